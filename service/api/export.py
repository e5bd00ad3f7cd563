"""Prints the schema as SDL: `python -m service.api.export > graphql/schema.graphql`."""

from service.api.schema import schema


def schema_sdl() -> str:
    return schema.as_str() + "\n"


if __name__ == "__main__":
    print(schema_sdl(), end="")
