"""Every mutation's GraphQL document, and a snapshot of every tenant table: for tests that
assert a refused mutation wrote nothing."""

from __future__ import annotations

from tortoise import connections

SNAPSHOT_TABLES = (
    "firm",
    "app_user",
    "client",
    "contact",
    "portal_session",
    "pipeline",
    "stage",
    "job",
    "job_assignee",
    "task",
    "job_event",
    "job_template",
    "job_template_assignee",
    "recurring_schedule",
    "custom_field",
)

BULK_RESULTS = "results { jobId clientId job { id } errors { code message field } }"
# Each mutation: its input type and the payload fields that must be null when it is refused.
PAYLOADS: dict[str, tuple[str, str]] = {
    "createPipeline": ("CreatePipelineInput", "pipeline { id }"),
    "updatePipeline": ("UpdatePipelineInput", "pipeline { id }"),
    "deletePipeline": ("DeletePipelineInput", "deletedId"),
    "createStage": ("CreateStageInput", "stage { id }"),
    "updateStage": ("UpdateStageInput", "stage { id }"),
    "deleteStage": ("DeleteStageInput", "deletedId pipeline { id }"),
    "reorderStages": ("ReorderStagesInput", "pipeline { id }"),
    "createClient": ("CreateClientInput", "client { id }"),
    "updateClient": ("UpdateClientInput", "client { id }"),
    "createContact": ("CreateContactInput", "contact { id }"),
    "updateContact": ("UpdateContactInput", "contact { id }"),
    "deleteContact": ("DeleteContactInput", "deletedId"),
    "createJob": ("CreateJobInput", "job { id }"),
    "updateJob": ("UpdateJobInput", "job { id }"),
    "archiveJob": ("ArchiveJobInput", "job { id }"),
    "moveJob": ("MoveJobInput", "job { id }"),
    "transferJob": ("TransferJobInput", "job { id }"),
    "bulkMoveJobs": ("BulkMoveJobsInput", BULK_RESULTS),
    "bulkUpdateJobs": ("BulkUpdateJobsInput", BULK_RESULTS),
    "bulkArchiveJobs": ("BulkArchiveJobsInput", BULK_RESULTS),
    "createJobs": ("CreateJobsInput", BULK_RESULTS),
    "createTask": ("CreateTaskInput", "task { id }"),
    "updateTask": ("UpdateTaskInput", "task { id }"),
    "completeTask": ("TaskIdInput", "task { id }"),
    "reopenTask": ("TaskIdInput", "task { id }"),
    "deleteTask": ("TaskIdInput", "deletedId job { id }"),
    "createJobTemplate": ("CreateJobTemplateInput", "jobTemplate { id }"),
    "updateJobTemplate": ("UpdateJobTemplateInput", "jobTemplate { id }"),
    "deleteJobTemplate": ("DeleteJobTemplateInput", "deletedId"),
    "createJobFromTemplate": ("CreateJobFromTemplateInput", "job { id }"),
    "createRecurringSchedule": ("CreateRecurringScheduleInput", "recurringSchedule { id }"),
    "updateRecurringSchedule": ("UpdateRecurringScheduleInput", "recurringSchedule { id }"),
    "deleteRecurringSchedule": ("DeleteRecurringScheduleInput", "deletedId"),
    "createCustomField": ("CreateCustomFieldInput", "customField { id }"),
    "updateCustomField": ("UpdateCustomFieldInput", "customField { id }"),
    "deleteCustomField": ("DeleteCustomFieldInput", "deletedId"),
}


def document(op: str) -> str:
    input_type, fields = PAYLOADS[op]
    return (
        f"mutation($input: {input_type}!) {{ {op}(input: $input) "
        f"{{ errors {{ code message field }} {fields} }} }}"
    )


async def snapshot() -> dict[str, list[str]]:
    """Every row of every tenant table (api_token aside: authentication touches it)."""
    connection = connections.get("default")
    tables: dict[str, list[str]] = {}
    for table in SNAPSHOT_TABLES:
        rows = await connection.execute_query_dict(f'SELECT * FROM "{table}"')
        tables[table] = sorted(repr(sorted(row.items())) for row in rows)
    return tables
