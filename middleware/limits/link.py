"""rate_limit: a virtual key's (and its team's and user's) rpm, tpm, parallel and per-model limits; 429 when full.

It sits after key_models (the model is the group the call goes to, aliases resolved) and before fallback, so
each client call is counted once however many deployments it then tries, and a refused call sends nothing
upstream. The master key (no `call.caller`) and a key whose records set no limit pass at the cost of three
attribute reads. Admitted calls get OpenAI's x-ratelimit-* headers for their tightest limits.

Tokens are counted, and a streamed answer's parallel slot freed, by the hook this link adds to
`call.on_done`, which the `meter` link runs once when the answer is complete (None when it failed).

Options:
- `body_model` (default false): on routes no dialect decodes (the forwarded APIs), read `model` from a JSON body
  for the per-model limits; the body is parsed only for a caller that has per-model limits.
"""

from __future__ import annotations

from attrs import frozen

from kernel.call import Call, Next, Reply
from kernel.registry import middleware
from middleware.governance.body_model import body_model
from middleware.limits.limiter import limiter_of
from middleware.limits.rules import rules_for


@middleware("rate_limit")
class RateLimit:
    @frozen
    class Options:
        body_model: bool = False

    def __init__(self, options: Options | None, gateway) -> None:
        self.body_model = (options or self.Options()).body_model
        self.limiter = limiter_of(gateway)
        self.router_aliases = gateway.models.aliases

    async def __call__(self, call: Call, next: Next) -> Reply:
        caller = call.caller
        if caller is None:
            return await next(call)
        team, user = caller.team, caller.user
        if not (caller.key.limits.rated or (team is not None and team.limits.rated)
                or (user is not None and user.limits.rated)):
            return await next(call)
        model = call.model
        if model is None and self.body_model and _per_model(caller):
            model = body_model(call.raw)
        if model is not None:
            model = self.router_aliases.get(model, model)  # limits name model groups, as the router does
        rules = rules_for(caller, model)
        if not rules:  # only per-model limits, for other models
            return await next(call)
        limiter = self.limiter
        lease = await limiter.acquire(rules)
        call.reply_headers.update(lease.headers)
        if lease.counts_tokens or lease.holds:
            def done(usage) -> None:
                if usage is not None and lease.counts_tokens:
                    limiter.record_tokens(caller, model, usage.total_tokens)
                lease.release()

            if call.on_done is None:
                call.on_done = []
            call.on_done.append(done)
        try:
            reply = await next(call)
        except BaseException:  # an error or a cancelled call: its slot is free now, whether or not a hook runs
            lease.release()
            raise
        if reply.stream is None:  # the answer is complete; a stream's slot is freed by the hook at its end
            lease.release()
        return reply


def _per_model(caller) -> bool:
    return any(r is not None and (r.limits.model_rpm_limit or r.limits.model_tpm_limit)
               for r in (caller.key, caller.team, caller.user))
