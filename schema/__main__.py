"""Print the schema's SDL: `python -m schema > schema.graphql` refreshes the committed contract."""

from schema import schema

print(schema.as_str())
