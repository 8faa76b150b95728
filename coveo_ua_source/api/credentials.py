"""The access token: what may be sent in an Authorization header."""

from __future__ import annotations

from coveo_ua_source.exceptions import ConfigurationError


def require_token(access_token: str | None) -> str:
    """The token without surrounding whitespace; refuses one that could not be a token.

    Whitespace or control characters inside (a CR/LF would split the Authorization
    header) are refused without quoting the token, which must never reach a message.
    """
    token = (access_token or "").strip()
    if not token:
        raise ConfigurationError(
            "no Coveo access token: set SOURCES__COVEO_UA__ACCESS_TOKEN, put access_token "
            "under [sources.coveo_ua] in .dlt/secrets.toml, or pass access_token="
        )
    bad = next(
        (i for i, char in enumerate(token) if char.isspace() or not char.isprintable()), None
    )
    if bad is not None:
        raise ConfigurationError(
            f"access_token has a space, line break or control character at position {bad + 1} "
            f"of {len(token)}: copy the API key or OAuth token again, without line breaks"
        )
    return token
