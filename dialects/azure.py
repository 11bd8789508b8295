"""The Azure OpenAI dialect: OpenAI's wire format with the model named in the path, as AzureOpenAI clients send it.

`openai.AzureOpenAI(azure_endpoint=<relaykit>)` and LlamaIndex's AzureOpenAI post to
/openai/deployments/{deployment}/chat/completions?api-version=V; here `{deployment}` is a relaykit model
name. The path decides the model (as on Azure, whatever the body says); everything else is the OpenAI dialect.
"""

from __future__ import annotations

import re

from dialects.openai import decode_body, encode, encode_error
from kernel.bodies import parse_json_body
from kernel.call import Call
from kernel.errors import ClientError
from kernel.plugins import DialectBase
from kernel.registry import register_dialect

# A part of a model name between slashes: not empty, not '.' or '..', no control characters.
_PLAIN = re.compile(r"(?!\.{1,2}$)[^\x00-\x1f\x7f]+")


def _model(call: Call) -> str:
    model = call.path_params.get("model")
    if not model:
        raise ClientError("the path names no deployment: expected /openai/deployments/{model}/...", param="model")
    if not all(_PLAIN.fullmatch(part) for part in model.split("/")):
        # A name may hold '/' (a relaykit model name such as "team/gpt-4o"; Azure's own deployment names cannot).
        # It is only looked up, never put in a URL, but an empty, '.' or '..' part is no name anyone configured.
        raise ClientError("the deployment name in the path has an empty, '.' or '..' part, or a control character",
                          param="model")
    return model


async def decode(call: Call) -> None:
    model = _model(call)
    if call.form is None:
        decode_json(call)
        return
    form = await call.form.get()
    body = {k: v for k, v in form.multi_items()}
    body["model"] = model
    decode_body(call, body)


def decode_json(call: Call) -> None:
    """`decode` for a JSON body: synchronous, so a big body can be decoded in a worker thread."""
    model = _model(call)
    body = parse_json_body(call.raw)
    if body.get("model") == model:
        decode_body(call, body)  # the client's bytes stay forwardable as they are
        return
    decode_body(call, {**body, "model": model})
    call.raw_body = None  # `raw` still names the body's model, so it must never be forwarded as is


class AzureDialect(DialectBase):
    """The registered dialect object: decode from the path, encode exactly as OpenAI does."""

    name = "azure"
    wire = "openai"
    decode = staticmethod(decode)
    decode_json = staticmethod(decode_json)
    encode = staticmethod(encode)
    encode_error = staticmethod(encode_error)


register_dialect("azure", AzureDialect())
