"""The staff side of live calls: a WebSocket that forwards what crm.live_updates broadcasts to the admin's live
page.

``/ws/staff/calls/`` follows every call the user may see (the list page); ``/ws/staff/calls/<CallSid>/``
follows one call. The socket sits behind the session and origin checks (agentlocator/asgi.py); here it
refuses, before accepting, anyone who is not active staff or may not see the call (close code 4403).

The all-calls group carries every business's calls, so each message there is checked against the user's
businesses (answer cached per CallSid: a call never changes business).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from backoffice.live_calls import may_follow_calls, may_watch
from crm import selectors
from crm.live_updates import ALL_CALLS_GROUP, call_group

FORBIDDEN = 4403  # "403" in the application range of WebSocket close codes
VISIBILITY_CACHE_LIMIT = 1000


class LiveCallsConsumer(AsyncJsonWebsocketConsumer):
    """Server-to-browser only: what the browser sends is ignored."""

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.call_sid: str | None = self.scope["url_route"]["kwargs"].get("call_sid")
        self._visible: dict[str, bool] = {}
        if not await self._allowed():
            await self.close(code=FORBIDDEN)
            return
        group = call_group(self.call_sid) if self.call_sid else ALL_CALLS_GROUP
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups = [group]  # discarded by the base class on disconnect
        await self.accept()

    async def _allowed(self) -> bool:
        user = self.user
        if user is None or not user.is_authenticated:
            return False
        if self.call_sid is None:
            return await database_sync_to_async(may_follow_calls)(user)
        self._visible[self.call_sid] = await database_sync_to_async(may_watch)(user, self.call_sid)
        return self._visible[self.call_sid]

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        pass

    async def call_update(self, message: dict[str, Any]) -> None:
        """A ``call.update`` from crm.live_updates: forwarded as {call_sid, kind, data} if the user may see it."""
        call_sid = message.get("call_sid", "")
        if not await self._may_see(call_sid):
            return
        await self.send_json({"call_sid": call_sid, "kind": message.get("kind"), "data": message.get("data", {})})

    async def _may_see(self, call_sid: str) -> bool:
        if call_sid in self._visible:
            return self._visible[call_sid]
        if len(self._visible) >= VISIBILITY_CACHE_LIMIT:
            self._visible.clear()
        visible = await database_sync_to_async(self._call_is_visible)(call_sid)
        self._visible[call_sid] = visible
        return visible

    def _call_is_visible(self, call_sid: str) -> bool:
        return selectors.calls_for(self.user).filter(call_sid=call_sid).exists()
