"""AWS SigV4 for Bedrock and Sagemaker requests, through botocore's signer (`relaykit[bedrock]`).

Signing needs the final URL, body and headers and the current time, so it happens at the end of
`build_request`; the result is pure given credentials and the clock. `SignedRequest` masks the session
token (a secret) and the signing time (different on every call) wherever headers are shown.
"""

from __future__ import annotations

from attrs import define

from kernel.models import Deployment
from kernel.upstream import UpstreamRequest

REGION_ENV = ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION")
# Where each AWS setting comes from when litellm_params does not name it (read by the kernel at startup).
AWS_CONFIG_ENV = {
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID",),
    "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "aws_session_token": ("AWS_SESSION_TOKEN",),
    "aws_region_name": REGION_ENV,
}
AWS_CONFIG_KEYS = frozenset(AWS_CONFIG_ENV)


@define(slots=True)
class SignedRequest(UpstreamRequest):
    SECRET_HEADERS = UpstreamRequest.SECRET_HEADERS | {"x-amz-security-token"}
    VOLATILE_HEADERS = frozenset({"x-amz-date"})

    def masked_headers(self) -> dict[str, str]:
        out = {}
        for k, v in sorted(self.headers.items()):
            low = k.lower()
            out[k] = "***" if low in self.SECRET_HEADERS else ("<signing time>" if low in self.VOLATILE_HEADERS else v)
        return out


def botocore_missing() -> list[str]:
    """The start-up problem when botocore, which signs the requests, is not installed."""
    try:
        import botocore.auth  # noqa: F401
    except ImportError:
        return ["signing AWS requests needs botocore: pip install 'relaykit[bedrock]'"]
    return []


def aws_problems(d: Deployment, service: str) -> list[str]:
    """What a deployment lacks to sign requests for `service` (checked at startup)."""
    problems = []
    if not d.extra.get("aws_region_name"):
        problems.append(f"{service} needs aws_region_name (or one of {', '.join(REGION_ENV)})")
    if not (d.extra.get("aws_access_key_id") and d.extra.get("aws_secret_access_key")):
        problems.append(f"{service} needs aws_access_key_id and aws_secret_access_key (or AWS_ACCESS_KEY_ID and "
                        "AWS_SECRET_ACCESS_KEY); profiles and instance roles are not supported yet")
    return problems


def sign(method: str, url: str, headers: dict[str, str], body: bytes, d: Deployment, service: str,
         stream: bool = False) -> SignedRequest:
    """The request with SigV4 `authorization`, `x-amz-date` (and `x-amz-security-token`) headers added."""
    # Imported here so relaykit runs without the extra; deployments that need it are refused at startup.
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    extra = d.extra
    creds = Credentials(extra.get("aws_access_key_id"), extra.get("aws_secret_access_key"),
                        extra.get("aws_session_token"))
    request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(creds, service, extra.get("aws_region_name")).add_auth(request)
    signed = {k.lower(): v for k, v in request.headers.items()}
    return SignedRequest(method, url, signed, content=body, stream=stream)
