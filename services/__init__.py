"""Use cases: each write workflow (validate, price, reserve, number, append events) in one
place, called alike by resolvers and workers. `tables/` below only stores; the callers above
only check scopes, translate inputs and prime their loaders."""
