"""Authlib's framework-agnostic OAuth2Request over parameters FastAPI has already parsed.

Authlib reads a request's parameters through `payload` (and `form` at the token endpoint, `args` at
the authorization endpoint); these adapters hand it a query string or a form body as lists of
values, so Authlib's "parameter given more than once" checks still see every value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError
from starlette.datastructures import FormData, QueryParams

Params = dict[str, list[str]]


def params_of(items: FormData | QueryParams) -> Params:
    """Every text value of a query string or a form, by name (uploaded files are ignored)."""
    fields: Params = defaultdict(list)
    for key, value in items.multi_items():
        if isinstance(value, str):
            fields[key].append(value)
    return dict(fields)


class FormPayload(OAuth2Payload):
    def __init__(self, params: Params) -> None:
        self._datalist = defaultdict(list, params)

    @property
    def data(self) -> dict[str, str]:
        return {key: values[0] for key, values in self._datalist.items() if values}

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class ParsedRequest(OAuth2Request):
    """An OAuth2Request whose parameters came from the query string (`in_body=False`) or the body."""

    def __init__(
        self, method: str, uri: str, headers: Mapping[str, str], params: Params, *, in_body: bool = True
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self.payload = FormPayload(params)
        self._first = {key: values[0] for key, values in params.items() if values}
        self._in_body = in_body

    @property
    def args(self) -> dict[str, str]:
        return {} if self._in_body else self._first

    @property
    def form(self) -> dict[str, str]:
        return self._first if self._in_body else {}


CLIENT_REFUSED = "client authentication failed"


class SafeClientAuthentication(AuthorizationServer):
    """Authlib's HTTP Basic parsing crashes on a header of only `Basic ` or on credentials that are not
    UTF-8; such a client simply failed to authenticate (RFC 6749 §5.2: invalid_client, 401)."""

    def authenticate_client(self, request: OAuth2Request, methods: list[str], endpoint: str = "token") -> Any:
        try:
            return super().authenticate_client(request, methods, endpoint)
        except ValueError:  # also UnicodeDecodeError
            raise InvalidClientError(status_code=401, description=CLIENT_REFUSED) from None
        except InvalidClientError:
            # One answer for an unknown client and a wrong secret: a different message would tell
            # anyone which client ids exist.
            raise InvalidClientError(status_code=401, description=CLIENT_REFUSED) from None
