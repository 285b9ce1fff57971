"""The Pipedrive API, as both commands use it: no Singer concept here.

`client.PipedriveClient` (root URL, authentication, session, retries, token ledger),
`pagination` (v2 cursors, v1 offsets, v1 pages by time), `responses` (the envelope and what a
status means), `errors` (typed errors carrying the line users see), `ratelimit` (burst window,
429 waits, daily budget), `auth` (API token, OAuth 2.0), `times` (RFC 3339 UTC).
"""
