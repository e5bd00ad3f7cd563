"""Buying Groups service: a GraphQL API over buying groups, their roles, scores and stages."""
