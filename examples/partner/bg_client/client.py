from collections.abc import AsyncIterator
from typing import Any, Optional, Union

from .async_base_client import AsyncBaseClient
from .base_model import UNSET, UnsetType
from .change_events import ChangeEvents
from .enums import BuyingGroupEventKind
from .event_log_page import EventLogPage
from .group_by_node import GroupByNode


def gql(q: str) -> str:
    return q


class Client(AsyncBaseClient):
    async def change_events(
        self,
        after: Union[Optional[str], UnsetType] = UNSET,
        kinds: Union[Optional[list[BuyingGroupEventKind]], UnsetType] = UNSET,
        **kwargs: Any,
    ) -> AsyncIterator[ChangeEvents]:
        query = gql("""
            subscription ChangeEvents($after: String, $kinds: [BuyingGroupEventKind!]) {
              buyingGroupEvents(after: $after, filter: {kinds: $kinds}) {
                cursor
                kind
                occurredAt
                actor
                buyingGroupId
                previousValue
                newValue
                buyingGroup {
                  id
                  name
                }
                person {
                  id
                  externalId
                }
                role {
                  id
                  name
                }
              }
            }
            """)
        variables: dict[str, object] = {"after": after, "kinds": kinds}
        async for data in self.execute_ws(
            query=query, operation_name="ChangeEvents", variables=variables, **kwargs
        ):
            yield ChangeEvents.model_validate(data)

    async def event_log_page(
        self, first: int, after: Union[Optional[str], UnsetType] = UNSET, **kwargs: Any
    ) -> EventLogPage:
        query = gql("""
            query EventLogPage($after: String, $first: Int!) {
              buyingGroupEventLog(after: $after, first: $first) {
                pageInfo {
                  hasNextPage
                  endCursor
                }
                nodes {
                  cursor
                  kind
                  buyingGroupId
                  newValue
                }
              }
            }
            """)
        variables: dict[str, object] = {"after": after, "first": first}
        response = await self.execute(
            query=query, operation_name="EventLogPage", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return EventLogPage.model_validate(data)

    async def group_by_node(self, id: str, **kwargs: Any) -> GroupByNode:
        query = gql("""
            query GroupByNode($id: ID!) {
              node(id: $id) {
                __typename
                ... on BuyingGroup {
                  id
                  name
                  completeness {
                    value
                  }
                  engagement {
                    value
                  }
                }
              }
            }
            """)
        variables: dict[str, object] = {"id": id}
        response = await self.execute(
            query=query, operation_name="GroupByNode", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return GroupByNode.model_validate(data)
