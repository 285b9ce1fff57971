"""The Pipedrive API, as both commands use it: no Singer concept here.

`client.PipedriveClient` (root URL, authentication, session, retries, token ledger),
`endpoints` (the lists both commands read), `pagination` (v2 cursors, v1 offsets, v1 pages by
time, recents), `responses` (the envelope and what a status means), `errors` (typed errors
carrying the line users see), `ratelimit` and `session` (burst window, 429 waits, daily budget,
requests in flight), `ledger` (`max_tokens_per_run`), `auth` (API token, OAuth 2.0), `times`
(RFC 3339 UTC).
"""
