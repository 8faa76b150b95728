"""Value pools the simulated rows draw from.

Pools are constant; which value a row gets depends on the seed and the hour. Repeating an
entry makes it more likely. ``None`` stands for a missing value (an empty CSV field).

Tricky text appears in most pools on purpose, often enough that every simulated day has
each kind: embedded commas, double quotes, line breaks (``\\n`` and ``\\r\\n``, never a lone
``\\r``), backslashes, non-ASCII letters and emoji, and leading/trailing spaces. No value is
the empty string or only whitespace: the connector loads an empty field as NULL.
"""

from __future__ import annotations

from typing import Final

QUERIES: Final[tuple[str | None, ...]] = (
    "reset password",
    "install connector",
    "coveo api key",
    "sso configuration",
    "search relevance tuning",
    "how to export usage analytics",
    "invoice",
    "pricing plans",
    "release notes 2024",
    "error 500 on login",
    "reset password, admin account",
    'error "404" page not found',
    'the "quick start" guide, part 2',
    "C:\\Program Files\\Coveo\\logs",
    "regex \\d+ not matching",
    "how to\nconfigure sso",
    "first line\r\nsecond line",
    "café crème brûlée",
    "Straße öffnungszeiten",
    "日本語 検索 ヘルプ",
    "rocket 🚀 launch checklist",
    "  leading and trailing spaces  ",
    'she said "hi, there"\nthen left',
    None,
    None,
)

ADVANCED_QUERIES: Final[tuple[str | None, ...]] = (
    None,
    None,
    None,
    '@source=="Docs"',
    "@filetype==(pdf,html)",
    "@date>=today-30d",
    '@syssource=="Web, \\"Legacy\\""',
)

SEARCH_CAUSES: Final[tuple[str, ...]] = (
    "searchboxSubmit",
    "searchboxSubmit",
    "interfaceLoad",
    "facetSelect",
    "omniboxAnalytics",
    "pagerNext",
    "searchFromLink",
)

QUERY_PIPELINES: Final[tuple[str | None, ...]] = (
    "default",
    "default",
    "Community Pipeline",
    "ML, boosted",
    None,
)

SEARCH_HUBS: Final[tuple[str | None, ...]] = (
    "CommunitySearch",
    "SupportHub",
    "Agent Panel",
    "Docs — Français",
    None,
)

TABS: Final[tuple[str | None, ...]] = ("All", "All", "Articles", "Videos", "Q&A", None)

# (originLevel1, originLevel2, originLevel3)
ORIGINS: Final[tuple[tuple[str | None, str | None, str | None], ...]] = (
    ("Community", "default", "https://community.example.com/s/"),
    ("Community", "Questions", "https://community.example.com/s/questions"),
    ("Support", "Cases", "https://support.example.com/cases?id=1,2"),
    ("Docs", "Guides", None),
    ("Agent Panel", None, None),
    ("Portail Français", "Accueil", "https://exemple.fr/été"),
    (" Intranet ", "HR \\ Benefits", 'https://intranet.example.com/a"b'),
)

LANGUAGES: Final[tuple[str | None, ...]] = ("en", "en", "en", "fr", "de", "ja", "es", None)

# (city, country)
PLACES: Final[tuple[tuple[str | None, str | None], ...]] = (
    ("Montréal", "Canada"),
    ("Québec", "Canada"),
    ("New York", "United States"),
    ("Washington, D.C.", "United States"),
    ("München", "Germany"),
    ("東京", "Japan"),
    ("São Paulo", "Brazil"),
    (None, None),
)

DEVICES: Final[tuple[str | None, ...]] = ("Desktop", "Desktop", "Mobile", "Tablet", None)

CONTEXT_ROLES: Final[tuple[str | None, ...]] = (
    "customer",
    "customer",
    "admin",
    "support agent",
    'partner "gold", tier 1',
    None,
)

USER_NAMES: Final[tuple[str, ...]] = (
    "jdoe@example.com",
    "asmith@example.com",
    "anna.müller@example.de",
    "Zoë O'Brien",
    '"Bobby" Tables, Jr.',
    "DOMAIN\\svc-search",
    "  spaced.user@example.com  ",
    "田中太郎",
    "😀 emoji user",
)

CLICK_CAUSES: Final[tuple[str, ...]] = (
    "documentOpen",
    "documentOpen",
    "documentQuickview",
    "openResultLink",
    "copyToClipboard",
)

# (documentTitle, documentUri, collectionName, sourceName)
DOCUMENTS: Final[tuple[tuple[str | None, str, str | None, str | None], ...]] = (
    ("Getting started", "https://docs.example.com/start", "default", "Docs"),
    ("Release notes, v2.0", "https://docs.example.com/rn/2,0", "default", "Docs"),
    ('The "Quick" guide', "https://docs.example.com/quick", "default", "Docs"),
    ("Line one\nline two", "https://community.example.com/t/1", "Community, Public", "Forum"),
    ("Windows\r\nInstall", "https://community.example.com/t/2", "Community, Public", "Forum"),
    ("Résumé des nouveautés", "https://exemple.fr/nouveautés", "default", "Docs FR"),
    ("Path C:\\docs\\readme.txt", "file://server/share/readme.txt", None, "File Share"),
    ("  padded title  ", "https://kb.example.com/kb/42", "KB", "Salesforce — KB"),
    ("日本語のドキュメント", "https://docs.example.jp/ja/1", "default", "Docs JA"),
    ("🚀 Launch checklist", "https://kb.example.com/kb/7", "KB", None),
    (None, "https://kb.example.com/kb/8", "KB", "Salesforce — KB"),
)

EVENT_TYPES: Final[tuple[str, ...]] = (
    "caseDeflection",
    "addToCart",
    "ticket_create",
    "video play",
)

EVENT_VALUES: Final[tuple[str | None, ...]] = (
    "click",
    "submit",
    "submit, final",
    'He said "go"',
    "multi\nline value",
    "back\\slash",
    "größe",
    None,
)

CART_VALUES: Final[tuple[str | None, ...]] = ("19.99", "0", "1,299.00", None, None)

GROUPS: Final[tuple[str, ...]] = (
    "Everyone",
    "Employees",
    "Partners, EMEA",
    'Support "Tier 2"',
    "Clients — Québec",
    "Admins",
)

# Share of hours with no searches at all.
EMPTY_HOUR_RATE: Final = 0.1
# Number of distinct visitors per seed.
VISITORS: Final = 400
# Share of visitors that are anonymous (no userName/userId).
ANONYMOUS_RATE: Final = 0.25
