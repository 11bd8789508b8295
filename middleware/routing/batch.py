"""Batch completions: `"model": "a,b"` sends the same request to each model group concurrently.

The answer is a JSON list in the order the models were named; a model that fails gets its error object in its
slot (a `Failed` item, which the dialect's encode renders like any error), so one bad member never turns the
whole list into an error. With `fastest_response: true` the first success is the answer and the other calls
are cancelled.

A list answer is an OpenAI-SDK convention, so lists are served on the OpenAI dialect's chat and completions
routes only; elsewhere (`/v1/messages`, Azure's paths, embeddings) a comma list is a 400 before any upstream call.
Each member is one upstream call and goes through the router on its own, so rpm/tpm limits count N calls;
`general_settings.max_batch_models` caps N (duplicates included).
"""

from __future__ import annotations

import asyncio

from kernel.call import Call, Failed, Next, Reply
from kernel.errors import ClientError, GatewayError
from kernel.registry import middleware
from middleware.routing.context import routing_of

_ENDPOINTS = frozenset({"chat", "completions"})
_DIALECTS = frozenset({"openai"})


def split_models(model: str) -> list[str]:
    names = [m.strip() for m in model.split(",")]
    if not all(names):
        raise ClientError(f"'model' lists an empty name: {model!r}", param="model")
    return names


def member(call: Call, model: str) -> Call:
    """A copy of the call for one model: its own route decision, attempts, options and headers (members run
    concurrently, so unlike a retry's fork they keep their own of what each try adds to)."""
    return call.fork(model=model, deployment=None, attempts=[], reply_headers={}, options=dict(call.options),
                     upstream_s=0.0)


@middleware("batch")
class Batch:
    def __init__(self, options, gateway) -> None:
        self.rc = routing_of(gateway)
        # From the gateway's config, never from a request's user_config: a client must not lift its own cap.
        self.max_models = gateway.settings.general.max_batch_models

    async def __call__(self, call: Call, next: Next) -> Reply:
        model = call.model
        if model is None or "," not in model:
            return await next(call)
        rc = call.routing or self.rc
        if model in rc.models.exact:  # a configured name that happens to hold a comma
            return await next(call)
        if call.dialect not in _DIALECTS or call.endpoint not in _ENDPOINTS:
            raise ClientError("'model' names several models separated by commas; batch lists are only for the "
                              "OpenAI chat/completions routes (/v1/chat/completions, /v1/completions)",
                              param="model", code="batch_not_supported")
        names = split_models(model)
        if len(names) > self.max_models:
            raise ClientError(f"'model' names {len(names)} models; a batch may name at most {self.max_models} "
                              "(general_settings.max_batch_models; repeated names count)",
                              param="model", code="too_many_models")
        members = [member(call, m) for m in names]
        if call.options.get("fastest_response"):
            return await self.fastest(call, members, next)
        if call.stream:
            raise ClientError("streaming needs one model; with several, set fastest_response: true to stream "
                              "the first that answers", param="stream")
        items = await asyncio.gather(*(self.one(m, next) for m in members))
        return Reply(body=list(items))

    async def one(self, call: Call, next: Next) -> dict | Failed:
        """A member's canonical answer, or its failure for the dialect's encode to render in its slot."""
        try:
            reply = await next(call)
            return reply.canonical()
        except GatewayError as err:
            return Failed(call, err)

    async def fastest(self, call: Call, members: list[Call], next: Next) -> Reply:
        tasks = [asyncio.ensure_future(next(m)) for m in members]
        owner = dict(zip(tasks, members, strict=True))
        pending = set(tasks)
        errors: list[GatewayError] = []
        winner = None
        try:
            while pending and winner is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in tasks:  # in the order given, so simultaneous finishers resolve the same way
                    if task not in done or task.cancelled():
                        continue
                    exc = task.exception()
                    if exc is None and winner is None:
                        winner = task
                    elif exc is None:
                        await _discard(task.result())
                    elif isinstance(exc, GatewayError):
                        errors.append(exc)
                    else:
                        raise exc
        finally:
            for task in pending:
                task.cancel()
            if pending:
                rest = await asyncio.gather(*pending, return_exceptions=True)
                for r in rest:
                    if isinstance(r, Reply):
                        await _discard(r)
        if winner is None:
            raise errors[-1]
        chosen = owner[winner]
        call.adopt(chosen)
        call.reply_headers.update(chosen.reply_headers)
        call.reply_headers["x-relaykit-fastest-response-model"] = chosen.model
        return winner.result()


async def _discard(reply: Reply) -> None:
    aclose = getattr(reply.stream, "aclose", None)
    if aclose is not None:
        await aclose()
