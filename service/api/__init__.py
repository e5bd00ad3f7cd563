"""The GraphQL API: context, loaders, one module per domain, and the schema assembly."""
