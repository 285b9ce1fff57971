"""Field definitions of each entity: the source of custom-field columns, and streams too."""

from __future__ import annotations

from pipedrive_api import endpoints
from tap_pipedrive import schemas
from tap_pipedrive.client import DefinitionsStream
from tap_pipedrive.lists import V1Stream, V2Stream


class V2FieldsStream(DefinitionsStream, V2Stream):
    """A v2 `/api/v2/{entity}Fields` list, keyed by `field_code`."""

    primary_keys = ("field_code",)
    base_schema = schemas.FIELDS


class V1FieldsStream(DefinitionsStream, V1Stream):
    """A v1 `/v1/{entity}Fields` list, keyed by `key`."""

    primary_keys = ("key",)
    base_schema = schemas.V1_FIELDS


class DealFieldsStream(V2FieldsStream):
    """Deal fields (leads share them)."""

    name = "deal_fields"
    extra_params = dict(endpoints.DEAL_FIELDS.params)
    path = endpoints.DEAL_FIELDS.path


class PersonFieldsStream(V2FieldsStream):
    """Person fields."""

    name = "person_fields"
    extra_params = dict(endpoints.PERSON_FIELDS.params)
    path = endpoints.PERSON_FIELDS.path


class OrganizationFieldsStream(V2FieldsStream):
    """Organization fields."""

    name = "organization_fields"
    extra_params = dict(endpoints.ORGANIZATION_FIELDS.params)
    path = endpoints.ORGANIZATION_FIELDS.path


class ProductFieldsStream(V2FieldsStream):
    """Product fields."""

    name = "product_fields"
    extra_params = dict(endpoints.PRODUCT_FIELDS.params)
    path = endpoints.PRODUCT_FIELDS.path


class ActivityFieldsStream(V2FieldsStream):
    """Activity fields."""

    name = "activity_fields"
    extra_params = dict(endpoints.ACTIVITY_FIELDS.params)
    path = endpoints.ACTIVITY_FIELDS.path


class ProjectFieldsStream(V2FieldsStream):
    """Project fields (plan-gated: skipped with a warning where the plan lacks projects)."""

    name = "project_fields"
    path = "/api/v2/projectFields"


class NoteFieldsStream(V1FieldsStream):
    """Note fields."""

    name = "note_fields"
    path = endpoints.NOTE_FIELDS.path


class LeadFieldsStream(V1FieldsStream):
    """Lead fields."""

    name = "lead_fields"
    path = "/v1/leadFields"
