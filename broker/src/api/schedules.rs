//! Schedules over the API: list, create, pause, resume, delete and "run now".
//!
//! Validation happens here first (a clear 400 before anything reaches the log) and
//! again in apply, which is what decides.

use super::http::ApiJson;
use super::{unexpected, ApiError, BrokerApi};
use crate::model::schedule::{CreateSchedule, Schedule};
use crate::model::wire::{ErrorBody, StartProcessResponse};
use crate::model::{Millis, ProcessId, TaskId};
use crate::state_machine::{Command, Reply};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

impl BrokerApi {
    /// Every schedule, by name.
    pub fn list_schedules(&self) -> Vec<Schedule> {
        self.core.lock().schedules()
    }

    /// One schedule.
    pub fn get_schedule(&self, name: &str) -> Result<Schedule, ApiError> {
        self.core
            .lock()
            .schedule_by_name(name)
            .ok_or_else(|| unknown_schedule(name))
    }

    /// Creates a schedule (`409` if the name is taken).
    pub async fn create_schedule(&self, req: CreateSchedule) -> Result<Schedule, ApiError> {
        req.validate().map_err(ApiError::invalid)?;
        self.limits
            .check_task(&req.start.to_spec(TaskId::random()))?;
        let cmd = Command::CreateSchedule {
            now: Millis::now(),
            request: req,
        };
        schedule_reply(self.commit(cmd).await?)
    }

    /// Pauses a schedule: no ticks until it is resumed.
    pub async fn pause_schedule(&self, name: &str) -> Result<Schedule, ApiError> {
        let cmd = Command::PauseSchedule {
            name: name.to_string(),
        };
        schedule_reply(self.commit(cmd).await?)
    }

    /// Resumes a schedule: its next tick is the first one from now on.
    pub async fn resume_schedule(&self, name: &str) -> Result<Schedule, ApiError> {
        let cmd = Command::ResumeSchedule {
            now: Millis::now(),
            name: name.to_string(),
        };
        schedule_reply(self.commit(cmd).await?)
    }

    /// Deletes a schedule; answers it as it was.
    pub async fn delete_schedule(&self, name: &str) -> Result<Schedule, ApiError> {
        let cmd = Command::DeleteSchedule {
            name: name.to_string(),
        };
        schedule_reply(self.commit(cmd).await?)
    }

    /// Starts the schedule's process now, outside its ticks (paused or not).
    pub async fn run_schedule(&self, name: &str) -> Result<StartProcessResponse, ApiError> {
        let cmd = Command::FireSchedule {
            now: Millis::now(),
            name: name.to_string(),
            tick: None,
            process_id: ProcessId::random(),
            task_id: TaskId::random(),
        };
        match self.commit(cmd).await? {
            Reply::ScheduleFired(Some(r)) => Ok(r),
            other => Err(unexpected(other)),
        }
    }
}

fn schedule_reply(r: Reply) -> Result<Schedule, ApiError> {
    match r {
        Reply::Schedule(s) => Ok(*s),
        other => Err(unexpected(other)),
    }
}

fn unknown_schedule(name: &str) -> ApiError {
    ApiError::not_found("unknown_schedule", format!("unknown schedule {name:?}"))
}

/// `/api/v1/schedules…`.
pub fn routes(api: BrokerApi) -> Router {
    Router::new()
        .route("/api/v1/schedules", get(list).post(create))
        .route("/api/v1/schedules/{name}", get(show).delete(delete))
        .route("/api/v1/schedules/{name}/pause", post(pause))
        .route("/api/v1/schedules/{name}/resume", post(resume))
        .route("/api/v1/schedules/{name}/run", post(run))
        .with_state(api)
}

/// Every schedule, by name.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ScheduleList {
    pub items: Vec<Schedule>,
}

/// Every schedule, by name.
#[utoipa::path(get, path = "/api/v1/schedules", operation_id = "list_schedules", tag = "schedules",
    responses((status = 200, description = "The schedules", body = ScheduleList)))]
async fn list(State(api): State<BrokerApi>) -> Response {
    Json(ScheduleList {
        items: api.list_schedules(),
    })
    .into_response()
}

/// Creates a schedule that starts a process on a cron expression or an interval.
#[utoipa::path(post, path = "/api/v1/schedules", operation_id = "create_schedule", tag = "schedules",
    request_body = CreateSchedule,
    responses(
        (status = 201, description = "Created", body = Schedule),
        (status = 409, description = "A schedule of that name exists", body = ErrorBody),
    ))]
async fn create(
    State(api): State<BrokerApi>,
    ApiJson(req): ApiJson<CreateSchedule>,
) -> Result<Response, ApiError> {
    let s = api.create_schedule(req).await?;
    Ok((StatusCode::CREATED, Json(s)).into_response())
}

/// One schedule.
#[utoipa::path(get, path = "/api/v1/schedules/{name}", operation_id = "get_schedule", tag = "schedules",
    params(("name" = String, Path, description = "The schedule's name")),
    responses(
        (status = 200, description = "The schedule", body = Schedule),
        (status = 404, description = "No such schedule (`unknown_schedule`)", body = ErrorBody),
    ))]
async fn show(
    State(api): State<BrokerApi>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(api.get_schedule(&name)?).into_response())
}

/// Pauses a schedule: it starts nothing until resumed.
#[utoipa::path(post, path = "/api/v1/schedules/{name}/pause", operation_id = "pause_schedule", tag = "schedules",
    params(("name" = String, Path, description = "The schedule's name")),
    responses(
        (status = 200, description = "The schedule, paused", body = Schedule),
        (status = 404, description = "No such schedule (`unknown_schedule`)", body = ErrorBody),
    ))]
async fn pause(
    State(api): State<BrokerApi>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(api.pause_schedule(&name).await?).into_response())
}

/// Resumes a paused schedule from the next due time.
#[utoipa::path(post, path = "/api/v1/schedules/{name}/resume", operation_id = "resume_schedule", tag = "schedules",
    params(("name" = String, Path, description = "The schedule's name")),
    responses(
        (status = 200, description = "The schedule, running", body = Schedule),
        (status = 404, description = "No such schedule (`unknown_schedule`)", body = ErrorBody),
    ))]
async fn resume(
    State(api): State<BrokerApi>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(api.resume_schedule(&name).await?).into_response())
}

/// Deletes a schedule (processes it started stay).
#[utoipa::path(delete, path = "/api/v1/schedules/{name}", operation_id = "delete_schedule", tag = "schedules",
    params(("name" = String, Path, description = "The schedule's name")),
    responses(
        (status = 200, description = "The deleted schedule", body = Schedule),
        (status = 404, description = "No such schedule (`unknown_schedule`)", body = ErrorBody),
    ))]
async fn delete(
    State(api): State<BrokerApi>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(api.delete_schedule(&name).await?).into_response())
}

/// The process a "run now" started.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ScheduleRun {
    pub process_id: ProcessId,
    pub task_id: TaskId,
}

/// Starts the schedule's process now, outside its timetable.
#[utoipa::path(post, path = "/api/v1/schedules/{name}/run", operation_id = "run_schedule", tag = "schedules",
    params(("name" = String, Path, description = "The schedule's name")),
    responses(
        (status = 200, description = "The process started", body = ScheduleRun),
        (status = 404, description = "No such schedule (`unknown_schedule`)", body = ErrorBody),
    ))]
async fn run(State(api): State<BrokerApi>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let r = api.run_schedule(&name).await?;
    Ok(Json(ScheduleRun {
        process_id: r.process_id,
        task_id: r.task_id,
    })
    .into_response())
}
