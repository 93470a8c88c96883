//! Fake ports and a test harness. The fake world decides every submitted
//! command at once with the real pure domain (`ledger_domain::decide`), the
//! way the command handler and projector would, so the tests see real
//! contacts, real conflicts and real rejections without Kafka or PostgreSQL.
//! Any port can be made to hang or to fail, to test the 503 paths. Every
//! answer of a documented route is checked against `/openapi.json`.
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use async_trait::async_trait;
use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request},
};
use chrono::{DateTime, Utc};
use ledger_domain::{
    Command, CommandId, Contact, ContactId, CreateTenant, Event, InviteId, TenantId, TenantState,
    decide::{Context, decide},
    roles::{GrantChange, GrantStatus},
    state::InviteStatus,
};
use ledger_http::{AppState, HttpConfig, hash_api_key, router};
use ledger_ports::{
    AccessRoles, CommandBus, CommandStatus, CommandView, Commands, ContactFilter, Contacts, Coverage, Cursor,
    EventView, GrantChangeView, GrantView, Idempotency, IdempotencyKeys, InviteState, InviteTokenView, Invites,
    Readiness, RoleView, StoredResponse, TenantView, Tenants, Unavailable,
};
use ledger_protocol::CommandEnvelope;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use ulid::Ulid;

use crate::contract::Contract;

pub const KEY: &str = "test-key-tenant-a";

struct IdemEntry {
    hash: String,
    command_id: CommandId,
    issued_at: DateTime<Utc>,
    response: Option<StoredResponse>,
}

#[derive(Default)]
pub struct World {
    tenants: Mutex<HashMap<TenantId, TenantState>>,
    keys: Mutex<HashMap<String, TenantId>>,
    decisions: Mutex<HashMap<CommandId, CommandView>>,
    recorded: Mutex<HashSet<CommandId>>,
    events: Mutex<Vec<(TenantId, ContactId, EventView)>>,
    idempotency: Mutex<HashMap<(TenantId, String), IdemEntry>>,
    /// The role read models, projected from the decided events.
    roles: Mutex<HashMap<TenantId, BTreeMap<String, RoleView>>>,
    grants: Mutex<HashMap<(TenantId, ContactId), BTreeMap<String, GrantView>>>,
    /// Every grant change, stamped with its command's time, in log order.
    grant_history: Mutex<Vec<(TenantId, ContactId, GrantChangeView)>>,
    /// Invite tokens by their SHA-256 (hex), as the mailer would record them.
    invite_tokens: Mutex<HashMap<String, InviteTokenView>>,
    pub submitted: Mutex<Vec<CommandEnvelope>>,
    /// Ports (by method name) that never answer.
    pub hanging: Mutex<HashSet<&'static str>>,
    /// Ports (by method name) that answer `Unavailable`.
    pub down: Mutex<HashSet<&'static str>>,
    /// When set, submitted commands are never decided.
    pub stalled: Mutex<bool>,
    /// How often each port (by method name) was called.
    pub calls: Mutex<HashMap<&'static str, usize>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl World {
    pub fn calls(&self, port: &'static str) -> usize {
        lock(&self.calls).get(port).copied().unwrap_or(0)
    }

    async fn gate(&self, port: &'static str) -> Result<(), Unavailable> {
        *lock(&self.calls).entry(port).or_default() += 1;
        if lock(&self.hanging).contains(port) {
            std::future::pending::<()>().await;
        }
        if lock(&self.down).contains(port) {
            return Err(Unavailable(format!("{port} is down")));
        }
        Ok(())
    }

    pub fn add_tenant(&self, name: &str, key: &str) -> TenantId {
        let id = TenantId(Ulid::new());
        let command = Command::CreateTenant(CreateTenant { name: name.into(), api_key_hash: hash_api_key(key) });
        let mut state = TenantState::default();
        let decided = decide(&state, &command, &Context::new(CommandId(Ulid::new()), Utc::now())).unwrap();
        decided.events.iter().for_each(|e| state.apply(e));
        lock(&self.tenants).insert(id, state);
        lock(&self.keys).insert(hash_api_key(key), id);
        id
    }

    pub fn submitted(&self) -> Vec<CommandEnvelope> {
        lock(&self.submitted).clone()
    }

    /// What the command handler and the projector together would do.
    fn handle(&self, envelope: &CommandEnvelope) {
        if *lock(&self.stalled) || lock(&self.decisions).contains_key(&envelope.command_id) {
            return;
        }
        let mut tenants = lock(&self.tenants);
        let Some(state) = tenants.get_mut(&envelope.tenant_id) else { return };
        // The handler's rule for whose clock a decision carries.
        let at = match ledger_protocol::decision_time(envelope.issued_at, Utc::now()) {
            Ok(at) => at,
            Err(rejection) => {
                let view = CommandView {
                    command_id: envelope.command_id,
                    tenant_id: envelope.tenant_id,
                    command_type: envelope.command.command_type().into(),
                    status: CommandStatus::Rejected,
                    contact_id: None,
                    events: vec![],
                    created: false,
                    warnings: vec![],
                    rejection: Some(rejection),
                };
                lock(&self.decisions).insert(envelope.command_id, view);
                return;
            }
        };
        let ctx = Context::new(envelope.command_id, at);
        let view = |status, events, rejection, decided: Option<&ledger_domain::Decided>| CommandView {
            command_id: envelope.command_id,
            tenant_id: envelope.tenant_id,
            command_type: envelope.command.command_type().into(),
            status,
            contact_id: decided.and_then(|d| d.subject),
            events,
            created: decided.is_some_and(|d| d.created),
            warnings: decided.map(|d| d.warnings.clone()).unwrap_or_default(),
            rejection,
        };
        let view = match decide(state, &envelope.command, &ctx) {
            Ok(decided) => {
                let mut views = Vec::new();
                for e in &decided.events {
                    state.apply(e);
                    self.project_roles(envelope.tenant_id, at, e);
                    self.project_invites(e);
                    let mut data = e.data().expect("event data is JSON");
                    if let Some(map) = data.as_object_mut() {
                        map.remove("password_hash");
                    }
                    let ev = EventView {
                        event_type: e.event_type().into(),
                        version: e.contact_version().unwrap_or(0),
                        time: at,
                        command_id: envelope.command_id,
                        data,
                        schema_version: Some(e.event_version()),
                    };
                    if let Some(c) = e.contact_id() {
                        lock(&self.events).push((envelope.tenant_id, c, ev.clone()));
                    }
                    views.push(ev);
                }
                view(CommandStatus::Accepted, views, None, Some(&decided))
            }
            Err(rejection) => view(CommandStatus::Rejected, vec![], Some(rejection), None),
        };
        lock(&self.decisions).insert(envelope.command_id, view);
    }

    /// What the projector keeps of role events: the catalogue, and each
    /// contact's current grants stamped with the command's time.
    fn project_roles(&self, tenant: TenantId, at: DateTime<Utc>, event: &Event) {
        if let (Some((reference, change)), Some(contact), Some(version)) =
            (GrantChange::of(event), event.contact_id(), event.contact_version())
        {
            let view = GrantChangeView { reference: reference.to_owned(), version, at, change };
            lock(&self.grant_history).push((tenant, contact, view));
        }
        let mut grants = lock(&self.grants);
        match event {
            Event::AccessRoleDefined(e) => {
                let view = RoleView {
                    reference: e.reference.clone(),
                    name: e.name.clone(),
                    grant_rule: e.grant_rule,
                    created_at: e.at,
                };
                lock(&self.roles).entry(tenant).or_default().insert(e.reference.clone(), view);
            }
            Event::RoleGranted(e) => {
                let view =
                    GrantView { reference: e.reference.clone(), status: e.status, expires: e.expires, granted_at: at };
                grants.entry((tenant, e.contact_id)).or_default().insert(e.reference.clone(), view);
            }
            Event::RoleActivated(e) => {
                if let Some(g) = grants.get_mut(&(tenant, e.contact_id)).and_then(|g| g.get_mut(&e.reference)) {
                    g.status = GrantStatus::Active;
                    g.granted_at = at;
                }
            }
            Event::RoleRevoked(e) => {
                if let Some(g) = grants.get_mut(&(tenant, e.contact_id)) {
                    g.remove(&e.reference);
                }
            }
            _ => {}
        }
    }

    /// The token views follow their invite's state (`PasswordSet` needs
    /// nothing here: the contacts come from the domain's state, which
    /// registers the user). A new request supersedes the contact's older,
    /// unaccepted invites, as the projector records it.
    fn project_invites(&self, event: &Event) {
        if let Event::InviteRequested(e) = event {
            let mut tokens = lock(&self.invite_tokens);
            let older = tokens.values_mut().filter(|v| v.contact_id == e.contact_id && v.invite_id != e.invite_id);
            for view in older.filter(|v| v.state != InviteState::Accepted) {
                view.state = InviteState::Superseded;
            }
            return;
        }
        let (invite, state) = match event {
            Event::InviteSent(e) => (e.invite_id, InviteState::Sent),
            Event::InviteDeliveryFailed(e) => (e.invite_id, InviteState::Failed),
            Event::InviteAccepted(e) => (e.invite_id, InviteState::Accepted),
            _ => return,
        };
        for view in lock(&self.invite_tokens).values_mut().filter(|v| v.invite_id == invite) {
            view.state = state;
        }
    }

    /// Records a token for an invite, as the mailer does when it sends one.
    pub fn add_invite_token(&self, token: &str, view: InviteTokenView) {
        lock(&self.invite_tokens).insert(hex::encode(Sha256::digest(token.as_bytes())), view);
    }

    /// The view of an invite as the domain knows it now.
    /// Moves an invite's expiry (as if it had been requested long ago).
    pub fn expire_invite(&self, tenant: TenantId, invite: InviteId, at: DateTime<Utc>) {
        let mut tenants = lock(&self.tenants);
        let state = tenants.get_mut(&tenant).expect("the tenant");
        state.invites.get_mut(&invite).unwrap_or_else(|| panic!("no invite {invite}")).expires_at = at;
    }

    pub fn invite_view(&self, tenant: TenantId, invite: InviteId) -> InviteTokenView {
        let tenants = lock(&self.tenants);
        let i = tenants[&tenant].invites.get(&invite).copied().unwrap_or_else(|| panic!("no invite {invite}"));
        let state = match i.status {
            InviteStatus::Requested => InviteState::Requested,
            InviteStatus::Superseded => InviteState::Superseded,
            InviteStatus::Sent => InviteState::Sent,
            InviteStatus::Failed => InviteState::Failed,
            InviteStatus::Accepted => InviteState::Accepted,
        };
        InviteTokenView {
            tenant_id: tenant,
            invite_id: invite,
            contact_id: i.contact_id,
            expires_at: i.expires_at,
            state,
        }
    }

    fn contacts_of(&self, tenant: TenantId) -> Vec<Contact> {
        let tenants = lock(&self.tenants);
        let mut all: Vec<Contact> = tenants.get(&tenant).map(|s| s.contacts().collect()).unwrap_or_default();
        all.sort_by_key(|c| c.id);
        all
    }
}

fn filter_matches(f: &ContactFilter, c: &Contact) -> bool {
    f.email.as_ref().is_none_or(|e| c.profile.email.as_ref() == Some(e))
        && f.kind.is_none_or(|k| c.kind == k)
        && f.tag.as_ref().is_none_or(|t| c.profile.tags.contains(t))
        && f.external_id.as_ref().is_none_or(|x| c.profile.external_id.as_ref() == Some(x))
        && f.number.is_none_or(|n| c.number == n)
        && f.typed.is_none_or(|t| c.type_id.is_some() == t)
}

pub struct FakeBus(pub Arc<World>);
pub struct FakeReads(pub Arc<World>);

#[async_trait]
impl CommandBus for FakeBus {
    async fn submit(&self, envelope: &CommandEnvelope) -> Result<(), Unavailable> {
        self.0.gate("submit").await?;
        lock(&self.0.submitted).push(envelope.clone());
        self.0.handle(envelope);
        Ok(())
    }
    async fn broker_ready(&self) -> bool {
        self.0.gate("broker_ready").await.is_ok()
    }
}

#[async_trait]
impl Tenants for FakeReads {
    async fn tenant_by_key_hash(&self, api_key_hash: &str) -> Result<Option<TenantView>, Unavailable> {
        self.0.gate("tenant_by_key_hash").await?;
        let Some(id) = lock(&self.0.keys).get(api_key_hash).copied() else { return Ok(None) };
        let tenants = lock(&self.0.tenants);
        let info = tenants.get(&id).and_then(|s| s.info.clone());
        Ok(info.map(|i| TenantView {
            tenant_id: id,
            name: i.name,
            contact_capture: i.contact_capture,
            key_version: i.key_version,
        }))
    }
    async fn tenant(&self, tenant: TenantId) -> Result<Option<TenantView>, Unavailable> {
        self.0.gate("tenant").await?;
        let tenants = lock(&self.0.tenants);
        let info = tenants.get(&tenant).and_then(|s| s.info.clone());
        Ok(info.map(|i| TenantView {
            tenant_id: tenant,
            name: i.name,
            contact_capture: i.contact_capture,
            key_version: i.key_version,
        }))
    }
    /// The fake keeps no rotated keys: only the key in force works.
    async fn key_works(&self, tenant: TenantId, key_version: u32) -> Result<bool, Unavailable> {
        self.0.gate("key_works").await?;
        let tenants = lock(&self.0.tenants);
        Ok(tenants.get(&tenant).and_then(|s| s.info.as_ref()).is_some_and(|i| i.key_version == key_version))
    }
}

#[async_trait]
impl Contacts for FakeReads {
    async fn contact(&self, tenant: TenantId, id: ContactId) -> Result<Option<Contact>, Unavailable> {
        self.0.gate("contact").await?;
        Ok(self.0.contacts_of(tenant).into_iter().find(|c| c.id == id))
    }
    async fn contact_by_external_id(&self, tenant: TenantId, x: &str) -> Result<Option<Contact>, Unavailable> {
        self.0.gate("contact_by_external_id").await?;
        Ok(self.0.contacts_of(tenant).into_iter().find(|c| c.profile.external_id.as_deref() == Some(x)))
    }
    async fn contacts(
        &self,
        tenant: TenantId,
        f: &ContactFilter,
        cursor: Cursor,
        limit: u32,
    ) -> Result<Vec<Contact>, Unavailable> {
        self.0.gate("contacts").await?;
        let all: Vec<Contact> = self.0.contacts_of(tenant).into_iter().filter(|c| filter_matches(f, c)).collect();
        let limit = limit as usize;
        Ok(match cursor {
            Cursor::Start => all.into_iter().take(limit).collect(),
            Cursor::After(a) => all.into_iter().filter(|c| c.id > a).take(limit).collect(),
            Cursor::Before(b) => {
                let before: Vec<Contact> = all.into_iter().filter(|c| c.id < b).collect();
                before[before.len().saturating_sub(limit)..].to_vec()
            }
            Cursor::Offset(n) => all.into_iter().skip(n as usize).take(limit).collect(),
        })
    }
    async fn count_contacts(&self, tenant: TenantId, f: &ContactFilter) -> Result<u64, Unavailable> {
        self.0.gate("contacts").await?;
        Ok(self.0.contacts_of(tenant).into_iter().filter(|c| filter_matches(f, c)).count() as u64)
    }
    async fn contact_events(&self, tenant: TenantId, id: ContactId) -> Result<Vec<EventView>, Unavailable> {
        self.0.gate("contact_events").await?;
        let events = lock(&self.0.events);
        Ok(events.iter().filter(|(t, c, _)| *t == tenant && *c == id).map(|(_, _, e)| e.clone()).collect())
    }
}

#[async_trait]
impl AccessRoles for FakeReads {
    async fn access_roles(&self, tenant: TenantId) -> Result<Vec<RoleView>, Unavailable> {
        self.0.gate("access_roles").await?;
        Ok(lock(&self.0.roles).get(&tenant).map(|r| r.values().cloned().collect()).unwrap_or_default())
    }
    async fn contact_grants(&self, tenant: TenantId, contact: ContactId) -> Result<Vec<GrantView>, Unavailable> {
        self.0.gate("contact_grants").await?;
        Ok(lock(&self.0.grants).get(&(tenant, contact)).map(|g| g.values().cloned().collect()).unwrap_or_default())
    }
    async fn grant_history(
        &self,
        tenant: TenantId,
        contact: ContactId,
        until: DateTime<Utc>,
    ) -> Result<Vec<GrantChangeView>, Unavailable> {
        self.0.gate("grant_history").await?;
        let history = lock(&self.0.grant_history);
        let mine = history.iter().filter(|(t, c, v)| *t == tenant && *c == contact && v.at <= until);
        Ok(mine.map(|(_, _, v)| v.clone()).collect())
    }
}

#[async_trait]
impl Commands for FakeReads {
    async fn command(&self, tenant: TenantId, id: CommandId) -> Result<Option<CommandView>, Unavailable> {
        self.0.gate("command").await?;
        Ok(lock(&self.0.decisions).get(&id).filter(|v| v.tenant_id == tenant).cloned())
    }
    async fn wait_for_command(
        &self,
        tenant: TenantId,
        id: CommandId,
        timeout: Duration,
    ) -> Result<Option<CommandView>, Unavailable> {
        self.0.gate("wait_for_command").await?;
        let decided = lock(&self.0.decisions).get(&id).filter(|v| v.tenant_id == tenant).cloned();
        if decided.is_none() {
            tokio::time::sleep(timeout).await;
        }
        Ok(decided)
    }
    async fn record_submitted(&self, _tenant: TenantId, id: CommandId) -> Result<(), Unavailable> {
        self.0.gate("record_submitted").await?;
        lock(&self.0.recorded).insert(id);
        Ok(())
    }
    async fn was_submitted(&self, _tenant: TenantId, id: CommandId) -> Result<bool, Unavailable> {
        self.0.gate("was_submitted").await?;
        Ok(lock(&self.0.recorded).contains(&id))
    }
}

#[async_trait]
impl IdempotencyKeys for FakeReads {
    async fn idempotency_begin(
        &self,
        tenant: TenantId,
        key: &str,
        hash: &str,
        command_id: CommandId,
        issued_at: DateTime<Utc>,
    ) -> Result<Idempotency, Unavailable> {
        self.0.gate("idempotency_begin").await?;
        let mut store = lock(&self.0.idempotency);
        Ok(match store.get(&(tenant, key.to_owned())) {
            None => {
                let entry = IdemEntry { hash: hash.into(), command_id, issued_at, response: None };
                store.insert((tenant, key.to_owned()), entry);
                Idempotency::Fresh
            }
            Some(e) if e.hash != hash => Idempotency::Mismatch,
            Some(IdemEntry { response: Some(r), .. }) => Idempotency::Done(r.clone()),
            Some(e) => Idempotency::InFlight { command_id: e.command_id, issued_at: e.issued_at },
        })
    }
    async fn idempotency_finish(
        &self,
        tenant: TenantId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), Unavailable> {
        self.0.gate("idempotency_finish").await?;
        if let Some(e) = lock(&self.0.idempotency).get_mut(&(tenant, key.to_owned())) {
            e.response = Some(response.clone());
        }
        Ok(())
    }
}

#[async_trait]
impl Invites for FakeReads {
    async fn invite_by_token_hash(&self, token_hash: &str) -> Result<Option<InviteTokenView>, Unavailable> {
        self.0.gate("invite_by_token_hash").await?;
        Ok(lock(&self.0.invite_tokens).get(token_hash).cloned())
    }
}

#[async_trait]
impl Readiness for FakeReads {
    async fn database_ready(&self) -> bool {
        self.0.gate("database_ready").await.is_ok()
    }
    async fn coverage(&self, role: &str) -> Result<Coverage, Unavailable> {
        // "handler_ready" down: no partition has a handler; the partitions are still there.
        let port = match role {
            "handler" => "handler_ready",
            "projector" => "projector_ready",
            _ => "mailer_ready",
        };
        match self.0.gate(port).await {
            Ok(()) => Ok(Coverage { partitions: 4, served: 4 }),
            Err(_) => Ok(Coverage { partitions: 4, served: 0 }),
        }
    }
}

pub struct TestApp {
    pub router: Router,
    pub world: Arc<World>,
    pub tenant: TenantId,
}

pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

/// Short timeouts, so the 503 paths are quick to test.
pub fn test_config() -> HttpConfig {
    HttpConfig {
        decision_timeout: Duration::from_millis(200),
        port_timeout: Duration::from_millis(200),
        ..HttpConfig::default()
    }
}

pub fn spawn_app() -> TestApp {
    spawn_app_with(test_config())
}

pub fn spawn_app_with(config: HttpConfig) -> TestApp {
    let world = Arc::new(World::default());
    let tenant = world.add_tenant("Tenant A", KEY);
    let state = AppState::new(Arc::new(FakeBus(world.clone())), Arc::new(FakeReads(world.clone())), config);
    TestApp { router: router(state), world, tenant }
}

impl TestApp {
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> TestResponse {
        let mut req = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = self.router.clone().oneshot(req.body(body.into()).unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let answer = TestResponse { status, headers, text, body };
        self.fits_the_document(method, path, &answer).await;
        answer
    }

    /// Every answer of a documented operation fits `/openapi.json`: its
    /// status is documented, and so is its body (405, the router's own
    /// answer to a method no route takes, is in no operation).
    async fn fits_the_document(&self, method: &str, path: &str, answer: &TestResponse) {
        static CONTRACT: OnceLock<Contract> = OnceLock::new();
        if answer.status == 405 {
            return;
        }
        let contract = match CONTRACT.get() {
            Some(contract) => contract,
            None => {
                let req = Request::builder().uri("/openapi.json").body(Body::empty()).unwrap();
                let response = self.router.clone().oneshot(req).await.unwrap();
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
                CONTRACT.get_or_init(|| Contract::new(serde_json::from_slice(&bytes).expect("/openapi.json is JSON")))
            }
        };
        if contract.operation(method, path).is_some() {
            let fits = contract.check_answer(method, path, answer.status, answer.header("content-type"), &answer.body);
            fits.unwrap_or_else(|e| panic!("the answer does not fit /openapi.json: {e}\n{}", answer.text));
        }
    }

    /// An authenticated JSON request (`Idempotency-Key` and the like in `extra`).
    pub async fn json(&self, method: &str, path: &str, body: &Value, extra: &[(&str, &str)]) -> TestResponse {
        let auth = format!("Bearer {KEY}");
        let mut headers = vec![("authorization", auth.as_str()), ("content-type", "application/json")];
        headers.extend_from_slice(extra);
        self.send(method, path, &headers, serde_json::to_vec(body).unwrap()).await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        let auth = format!("Bearer {KEY}");
        self.send("GET", path, &[("authorization", auth.as_str())], Body::empty()).await
    }

    pub fn hang(&self, port: &'static str) {
        lock(&self.world.hanging).insert(port);
    }

    pub fn take_down(&self, port: &'static str) {
        lock(&self.world.down).insert(port);
    }

    pub fn stall_decisions(&self) {
        *lock(&self.world.stalled) = true;
    }

    /// Creates a user with `"invite": true` (no password) and gives its
    /// invite the token, as the mailer would; returns the contact and invite.
    pub async fn invited_user(&self, body: Value, token: &str) -> (String, InviteId) {
        let r = self.json("POST", "/v1/contacts", &body, &[]).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let contact = r.body["id"].as_str().unwrap().to_owned();
        let events = self.get(&format!("/v1/contacts/{contact}/events")).await;
        let invite: InviteId = events.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "InviteRequested")
            .and_then(|e| e["data"]["invite_id"].as_str())
            .unwrap_or_else(|| panic!("no invite: {}", events.text))
            .parse()
            .unwrap();
        self.world.add_invite_token(token, self.world.invite_view(self.tenant, invite));
        (contact, invite)
    }

    /// A form post without an API key.
    pub async fn form(&self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v))).collect();
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        self.send("POST", path, &headers, body.join("&")).await
    }
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the RFC 9457 shape and returns the code.
    pub fn problem_code(&self) -> &str {
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{}", self.text);
        for member in ["type", "title", "detail", "code"] {
            assert!(self.body[member].is_string(), "problem without {member}: {}", self.text);
        }
        assert_eq!(self.body["status"].as_u64(), Some(u64::from(self.status)), "{}", self.text);
        self.body["code"].as_str().unwrap_or_default()
    }

    /// `(field, code)` of every listed field error.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        let errors = self.body["errors"].as_array().cloned().unwrap_or_default();
        errors
            .iter()
            .map(|e| (e["field"].as_str().unwrap_or("").to_owned(), e["code"].as_str().unwrap_or("").to_owned()))
            .collect()
    }

    pub fn has_error(&self, field: &str, code: &str) -> bool {
        self.field_errors().iter().any(|(f, c)| f == field && c == code)
    }
}

/// `application/x-www-form-urlencoded` escaping of one name or value.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A user to invite: no password, `"invite": true`.
pub fn an_invited_user(email: &str) -> Value {
    serde_json::json!({ "kind": "user", "email": email, "first_name": "Ada", "last_name": "Lovelace", "invite": true })
}

/// A valid `contact` body with the given email.
pub fn a_contact(email: &str) -> Value {
    serde_json::json!({ "kind": "contact", "email": email, "first_name": "Ada" })
}

/// A valid `user` body with a password.
pub fn a_user(email: &str) -> Value {
    serde_json::json!({
        "kind": "user", "email": email, "first_name": "Ada", "last_name": "Lovelace", "password": "analytical1engine",
    })
}
