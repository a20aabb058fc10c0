"""Print the schema's SDL: `python -m api > schema.graphql` refreshes the committed contract."""

from api import schema

print(schema.as_str())
