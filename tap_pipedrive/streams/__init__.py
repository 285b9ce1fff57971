"""Every stream the tap offers, grouped by module; `STREAM_TYPES` is the tap's stream list."""

from __future__ import annotations

from tap_pipedrive.streams.account import (
    ActivityTypesStream,
    CurrencyStream,
    FiltersStream,
    GoalsStream,
    LeadLabelsStream,
    LeadSourcesStream,
    PermissionSetsStream,
    RolesStream,
    UsersStream,
)
from tap_pipedrive.streams.assignments import (
    PermissionSetAssignmentsStream,
    RoleAssignmentsStream,
)
from tap_pipedrive.streams.boards import BoardsStream, PhasesStream
from tap_pipedrive.streams.crm import (
    ActivitiesStream,
    CallLogsStream,
    FilesStream,
    LeadsStream,
    NotesStream,
    OrganizationsStream,
    PersonsStream,
    ProductsStream,
)
from tap_pipedrive.streams.deal_extras import (
    DealDiscountsStream,
    DealMailMessagesStream,
    DealParticipantsStream,
    ProductVariationsStream,
)
from tap_pipedrive.streams.deals import (
    DealInstallmentsStream,
    DealProductsStream,
    DealsStream,
)
from tap_pipedrive.streams.deletions import DeletedRecordsStream
from tap_pipedrive.streams.fields import (
    ActivityFieldsStream,
    DealFieldsStream,
    LeadFieldsStream,
    NoteFieldsStream,
    OrganizationFieldsStream,
    PersonFieldsStream,
    ProductFieldsStream,
    ProjectFieldsStream,
)
from tap_pipedrive.streams.flow import DealFlowStream
from tap_pipedrive.streams.history import (
    DealStageHistoryStream,
    OrganizationChangesStream,
    PersonChangesStream,
)
from tap_pipedrive.streams.pipelines import PipelinesStream, StagesStream
from tap_pipedrive.streams.projects import ProjectsStream, TasksStream

STREAM_TYPES = (
    # deals and what hangs off them
    DealsStream,
    DealProductsStream,
    DealInstallmentsStream,
    DealFlowStream,
    DealParticipantsStream,
    DealMailMessagesStream,
    DealDiscountsStream,
    DealStageHistoryStream,
    # CRM entities
    PersonsStream,
    OrganizationsStream,
    ActivitiesStream,
    ProductsStream,
    ProductVariationsStream,
    NotesStream,
    LeadsStream,
    FilesStream,
    CallLogsStream,
    # field history (off by default: a call per person or organization updated)
    PersonChangesStream,
    OrganizationChangesStream,
    # pipelines
    PipelinesStream,
    StagesStream,
    # projects
    ProjectsStream,
    TasksStream,
    BoardsStream,
    PhasesStream,
    # the account
    UsersStream,
    RolesStream,
    RoleAssignmentsStream,
    PermissionSetsStream,
    PermissionSetAssignmentsStream,
    CurrencyStream,
    ActivityTypesStream,
    FiltersStream,
    LeadLabelsStream,
    LeadSourcesStream,
    GoalsStream,
    # field definitions
    DealFieldsStream,
    PersonFieldsStream,
    OrganizationFieldsStream,
    ProductFieldsStream,
    ActivityFieldsStream,
    ProjectFieldsStream,
    NoteFieldsStream,
    LeadFieldsStream,
    # deletions the lists do not show (off by default: it costs tokens)
    DeletedRecordsStream,
)

__all__ = ["STREAM_TYPES"]
