"""The code behind GraphQL fields: scope checks, loaders, calls into tables/ and domain/."""
