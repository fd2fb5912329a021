"""A tenant's rows in every table, found from the catalog: export, import and deletion.

These run as the database owner on connections of their own (operator commands, not requests),
and set the tenant for row-level security like any transaction, since owned tables force it.
"""
