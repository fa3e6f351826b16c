//! The object store of one simulated cluster.
//!
//! Protocol (what every caller may rely on):
//!
//! 1. One mutex guards all objects of the cluster; nothing awaits while holding it.
//! 2. Every write takes the next value of one cluster-wide `resourceVersion`
//!    counter (as etcd's revision), writes it into `metadata.resourceVersion`,
//!    serialises the object once, and publishes one [`StoreEvent`] to three
//!    places *under the same lock*: the history ring (watch resume), the
//!    broadcast (live watches), and the controllers' unbounded channel. So a
//!    watch that replays history and then subscribes, both under the lock,
//!    misses nothing and sees nothing twice.
//! 3. Objects are kept serialised (`Bytes`) with the few fields that
//!    selectors and indices need; a list is a concatenation of bytes, and
//!    10,000 pods cost megabytes, not the gigabytes a `Value` tree would.
//! 4. The history ring keeps the last `history_capacity` events; a watch or a
//!    continue token from before its oldest event gets 410 Expired.
//! 5. Deletion follows upstream: finalizers and foreground deletion set
//!    `deletionTimestamp` first (MODIFIED), removal publishes DELETED with a
//!    new resourceVersion; ownerReferences are garbage-collected according to
//!    the propagation policy (Background, Foreground, Orphan). Bound pods are
//!    deleted gracefully: the kubelet (the engine) removes them.
//!
//! Lists with `continue` are served from the live map after the last key, not
//! from a snapshot at the first page's resourceVersion (an object changed
//! between pages shows its newer version); the token carries the first page's
//! resourceVersion and expires with the history ring, as upstream's does with
//! etcd compaction.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::admission;
use crate::api_error::ApiError;
use crate::clock::SimClock;
use crate::object_meta::{
    self, finalizers, meta_str, object_at_mut, owner_uids, set_at, string_map_at, value_at,
};
use crate::patch::{self, PatchType};
use crate::resources::{self, NAMESPACES, PODS, ResourceId, resource};
use crate::rng::SimRng;
use crate::selectors::{FieldSelector, LabelSelector};

/// One stored object: its JSON and what selectors and indices read.
#[derive(Debug)]
pub struct StoredObject {
    /// The whole object as JSON, `metadata.resourceVersion` included.
    pub json: Bytes,
    /// The same object as a tree, for the controllers and the store's own
    /// reads, so nothing parses `json` back (shared, never changed).
    pub tree: Arc<Value>,
    /// Its resourceVersion.
    pub resource_version: u64,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// uid.
    pub uid: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Values of the resource's selectable fields.
    pub fields: Vec<(&'static str, String)>,
    /// Owner uids.
    pub owner_uids: Vec<String>,
    /// Whether `deletionTimestamp` is set.
    pub deleting: bool,
}

impl StoredObject {
    /// A copy of the tree, to change.
    pub fn value(&self) -> Value {
        (*self.tree).clone()
    }

    /// Parses into a typed object (for controllers).
    pub fn typed<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_slice(&self.json).ok()
    }

    /// The value of a selectable field.
    pub fn field(&self, field: &str) -> Option<String> {
        match field {
            "metadata.name" => Some(self.name.clone()),
            "metadata.namespace" => Some(self.namespace.clone()),
            _ => self
                .fields
                .iter()
                .find(|(name, _)| *name == field)
                .map(|(_, value)| value.clone()),
        }
    }
}

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    /// The watch event type.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches and controllers see it.
#[derive(Debug)]
pub struct StoreEvent {
    /// Which resource.
    pub resource: ResourceId,
    /// What happened.
    pub event_type: EventType,
    /// The object after the change (for DELETED: the last state, with the
    /// deletion's resourceVersion).
    pub object: Arc<StoredObject>,
    /// The object before the change (MODIFIED only), so that a filtered watch
    /// can turn "left the selection" into DELETED and "entered" into ADDED.
    pub previous: Option<Arc<StoredObject>>,
}

/// Where a watch starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchStart {
    /// No resourceVersion or "0": synthetic ADDED for every object, then changes.
    Now,
    /// After this resourceVersion: replay history, then changes.
    After(u64),
}

/// A watch's first events and its subscription to later ones.
#[derive(Debug)]
pub struct WatchSubscription {
    /// Events to send first.
    pub initial: Vec<Arc<StoreEvent>>,
    /// Later events (all resources; the caller filters).
    pub receiver: broadcast::Receiver<Arc<StoreEvent>>,
    /// The store's resourceVersion when the watch started.
    pub resource_version: u64,
}

/// One page of a list.
#[derive(Debug)]
pub struct ListPage {
    /// The objects, in key order.
    pub items: Vec<Arc<StoredObject>>,
    /// The list's resourceVersion.
    pub resource_version: u64,
    /// Token for the next page.
    pub continue_token: Option<String>,
    /// Objects after this page, when paginated.
    pub remaining_item_count: Option<u64>,
}

/// What a list asks for.
#[derive(Debug, Default)]
pub struct ListQuery<'a> {
    /// Namespace, or all.
    pub namespace: Option<&'a str>,
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// Page size.
    pub limit: Option<usize>,
    /// Continue token.
    pub continue_token: Option<&'a str>,
}

/// How dependents are treated on delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// Delete the owner now and its dependents after.
    Background,
    /// Delete dependents first; the owner waits (finalizer `foregroundDeletion`).
    Foreground,
    /// Keep dependents, without the owner reference.
    Orphan,
}

/// `DeleteOptions`, as far as they matter here.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    /// Propagation policy; `None` is the resource's default.
    pub propagation: Option<Propagation>,
    /// Grace period; `None` is the object's.
    pub grace_period_seconds: Option<i64>,
    /// Precondition on uid.
    pub precondition_uid: Option<String>,
    /// Precondition on resourceVersion.
    pub precondition_resource_version: Option<String>,
}

/// Main resource or `/status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subresource {
    /// The object; `status` is ignored for resources that have `/status`.
    Main,
    /// `/status`: only `status` (and metadata labels/annotations) change.
    Status,
}

type Key = (String, String);

#[derive(Debug)]
struct StoreInner {
    objects: Vec<BTreeMap<Key, Arc<StoredObject>>>,
    by_uid: HashMap<String, (ResourceId, Key)>,
    dependents: HashMap<String, BTreeSet<(ResourceId, Key)>>,
    resource_version: u64,
    history: VecDeque<Arc<StoreEvent>>,
    history_capacity: usize,
    compacted_through: u64,
    rng: SimRng,
}

/// The store of one cluster.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<StoreInner>,
    watchers: broadcast::Sender<Arc<StoreEvent>>,
    controllers: mpsc::UnboundedSender<Arc<StoreEvent>>,
    clock: SimClock,
}

/// Capacity of the live-watch broadcast; a watcher further behind is closed
/// (as upstream closes slow watchers) and resumes from its last resourceVersion.
const BROADCAST_CAPACITY: usize = 65_536;

impl Store {
    /// A store with the default namespaces. Returns the receiver of every
    /// change, for the cluster's controllers.
    pub fn new(
        clock: SimClock,
        seed: u64,
        history_capacity: usize,
    ) -> (Arc<Store>, mpsc::UnboundedReceiver<Arc<StoreEvent>>) {
        let (watchers, _) = broadcast::channel(BROADCAST_CAPACITY);
        let (controllers, receiver) = mpsc::unbounded_channel();
        let store = Arc::new(Store {
            inner: Mutex::new(StoreInner {
                objects: resources::RESOURCES
                    .iter()
                    .map(|_| BTreeMap::new())
                    .collect(),
                by_uid: HashMap::new(),
                dependents: HashMap::new(),
                resource_version: 0,
                history: VecDeque::new(),
                history_capacity: history_capacity.max(16),
                compacted_through: 0,
                rng: SimRng::seeded(seed),
            }),
            watchers,
            controllers,
            clock,
        });
        for namespace in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let created = store.create(
                NAMESPACES,
                "",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
            );
            debug_assert!(created.is_ok());
        }
        (store, receiver)
    }

    /// The simulated clock.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, StoreInner> {
        // A panic while holding the lock is a bug elsewhere; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().resource_version
    }

    /// A random uid or name suffix from the store's seeded generator.
    pub fn random_suffix(&self) -> String {
        self.lock().rng.name_suffix()
    }

    /// Number of objects of a resource.
    pub fn count(&self, resource_id: ResourceId) -> usize {
        self.lock()
            .objects
            .get(resource_id)
            .map_or(0, BTreeMap::len)
    }

    /// Reads one object.
    pub fn get(
        &self,
        resource_id: ResourceId,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<StoredObject>, ApiError> {
        let inner = self.lock();
        inner
            .objects
            .get(resource_id)
            .and_then(|objects| objects.get(&(namespace.to_owned(), name.to_owned())))
            .cloned()
            .ok_or_else(|| not_found(resource_id, name))
    }

    /// Reads one object by uid.
    pub fn get_by_uid(&self, uid: &str) -> Option<(ResourceId, Arc<StoredObject>)> {
        let inner = self.lock();
        let (resource_id, key) = inner.by_uid.get(uid)?;
        let object = inner.objects.get(*resource_id)?.get(key)?.clone();
        Some((*resource_id, object))
    }

    /// The objects that name `owner_uid` in their ownerReferences.
    pub fn dependents(&self, owner_uid: &str) -> Vec<(ResourceId, Arc<StoredObject>)> {
        let inner = self.lock();
        inner
            .dependents
            .get(owner_uid)
            .map(|keys| {
                keys.iter()
                    .filter_map(|(resource_id, key)| {
                        Some((
                            *resource_id,
                            inner.objects.get(*resource_id)?.get(key)?.clone(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every object of a resource (for controllers at start and for tests).
    pub fn all(&self, resource_id: ResourceId) -> Vec<Arc<StoredObject>> {
        self.lock()
            .objects
            .get(resource_id)
            .map(|objects| objects.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Lists objects.
    pub fn list(
        &self,
        resource_id: ResourceId,
        query: &ListQuery<'_>,
    ) -> Result<ListPage, ApiError> {
        let inner = self.lock();
        let (list_resource_version, start_after) = match query.continue_token {
            Some(token) if !token.is_empty() => {
                let (version, key) = decode_continue(token)?;
                if version < inner.compacted_through {
                    return Err(ApiError::Expired {
                        message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".to_owned(),
                    });
                }
                (version, Some(key))
            }
            _ => (inner.resource_version, None),
        };
        let Some(objects) = inner.objects.get(resource_id) else {
            return Err(not_found(resource_id, ""));
        };
        let lower = match (&start_after, query.namespace) {
            (Some(key), _) => std::ops::Bound::Excluded(key.clone()),
            (None, Some(namespace)) => {
                std::ops::Bound::Included((namespace.to_owned(), String::new()))
            }
            (None, None) => std::ops::Bound::Unbounded,
        };
        let name_filter = query.fields.required_value("metadata.name");
        let mut items = Vec::new();
        let mut continue_token = None;
        let mut remaining = 0u64;
        let limit = query.limit.filter(|limit| *limit > 0);
        for ((namespace, name), object) in objects.range((lower, std::ops::Bound::Unbounded)) {
            if let Some(wanted) = query.namespace
                && namespace != wanted
            {
                if namespace.as_str() > wanted {
                    break;
                }
                continue;
            }
            if name_filter.is_some_and(|wanted| wanted != name) {
                continue;
            }
            if !query.labels.matches(&object.labels)
                || !query.fields.matches(|field| object.field(field))
            {
                continue;
            }
            if let Some(limit) = limit
                && items.len() >= limit
            {
                if continue_token.is_none()
                    && let Some(last) = items
                        .last()
                        .map(|last: &Arc<StoredObject>| (last.namespace.clone(), last.name.clone()))
                {
                    continue_token = Some(encode_continue(list_resource_version, &last));
                }
                remaining += 1;
                continue;
            }
            items.push(object.clone());
        }
        Ok(ListPage {
            items,
            resource_version: list_resource_version,
            remaining_item_count: continue_token.as_ref().map(|_| remaining),
            continue_token,
        })
    }

    /// Starts a watch on a resource.
    pub fn watch(
        &self,
        resource_id: ResourceId,
        start: WatchStart,
    ) -> Result<WatchSubscription, ApiError> {
        let inner = self.lock();
        let receiver = self.watchers.subscribe();
        let initial = match start {
            WatchStart::Now => inner
                .objects
                .get(resource_id)
                .map(|objects| {
                    objects
                        .values()
                        .map(|object| {
                            Arc::new(StoreEvent {
                                resource: resource_id,
                                event_type: EventType::Added,
                                object: object.clone(),
                                previous: None,
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            WatchStart::After(version) => {
                if version < inner.compacted_through {
                    return Err(ApiError::Expired {
                        message: format!(
                            "too old resource version: {version} ({})",
                            inner.compacted_through + 1
                        ),
                    });
                }
                inner
                    .history
                    .iter()
                    .filter(|event| {
                        event.resource == resource_id && event.object.resource_version > version
                    })
                    .cloned()
                    .collect()
            }
        };
        Ok(WatchSubscription {
            initial,
            receiver,
            resource_version: inner.resource_version,
        })
    }

    /// Creates an object (`POST`).
    pub fn create(
        &self,
        resource_id: ResourceId,
        namespace: &str,
        mut object: Value,
    ) -> Result<Arc<StoredObject>, ApiError> {
        let resource = resource(resource_id);
        let mut inner = self.lock();
        admission::check_type_meta(resource, &mut object)?;
        let namespace = if resource.namespaced {
            let body_namespace = meta_str(&object, "namespace")
                .unwrap_or_default()
                .to_owned();
            match (namespace, body_namespace.as_str()) {
                ("", "") => "default".to_owned(),
                ("", body) => body.to_owned(),
                (path, "") => path.to_owned(),
                (path, body) if path == body => path.to_owned(),
                _ => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
            }
        } else {
            String::new()
        };
        if resource.namespaced {
            let key = (String::new(), namespace.clone());
            if !inner
                .objects
                .get(NAMESPACES)
                .is_some_and(|objects| objects.contains_key(&key))
            {
                return Err(not_found(NAMESPACES, &namespace));
            }
        }
        let metadata = object_at_mut(&mut object, "metadata");
        if resource.namespaced {
            metadata.insert("namespace".to_owned(), Value::String(namespace.clone()));
        } else {
            metadata.remove("namespace");
        }
        let name = match metadata
            .get("name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
        {
            Some(name) => name.to_owned(),
            None => match metadata
                .get("generateName")
                .and_then(Value::as_str)
                .filter(|prefix| !prefix.is_empty())
            {
                Some(prefix) => {
                    let mut generated = format!("{prefix}{}", inner.rng.name_suffix());
                    while inner.objects.get(resource_id).is_some_and(|objects| {
                        objects.contains_key(&(namespace.clone(), generated.clone()))
                    }) {
                        generated = format!("{prefix}{}", inner.rng.name_suffix());
                    }
                    generated
                }
                None => {
                    return Err(ApiError::invalid(
                        resource.kind,
                        resource.group,
                        "",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    ));
                }
            },
        };
        admission::check_name(resource, &name)?;
        if inner
            .objects
            .get(resource_id)
            .is_some_and(|objects| objects.contains_key(&(namespace.clone(), name.clone())))
        {
            return Err(ApiError::AlreadyExists {
                resource: resource.plural.to_owned(),
                group: resource.group.to_owned(),
                name,
            });
        }
        let uid = inner.rng.uuid();
        let now = self.clock.now();
        let metadata = object_at_mut(&mut object, "metadata");
        metadata.insert("name".to_owned(), Value::String(name.clone()));
        metadata.insert("uid".to_owned(), Value::String(uid));
        metadata.insert(
            "creationTimestamp".to_owned(),
            Value::String(now.to_rfc3339()),
        );
        metadata.insert("generation".to_owned(), json!(1));
        metadata.remove("deletionTimestamp");
        metadata.remove("deletionGracePeriodSeconds");
        metadata.remove("resourceVersion");
        metadata.remove("selfLink");
        admission::default_and_validate_create(resource_id, &mut object, now)?;
        Ok(self.write(&mut inner, resource_id, object, EventType::Added))
    }

    /// Replaces an object (`PUT`), with optimistic concurrency on
    /// `metadata.resourceVersion` when the body carries one.
    pub fn update(
        &self,
        resource_id: ResourceId,
        namespace: &str,
        name: &str,
        mut object: Value,
        subresource: Subresource,
    ) -> Result<Arc<StoredObject>, ApiError> {
        let resource = resource(resource_id);
        let mut inner = self.lock();
        admission::check_type_meta(resource, &mut object)?;
        let body_name = meta_str(&object, "name").unwrap_or_default();
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let current = inner
            .objects
            .get(resource_id)
            .and_then(|objects| objects.get(&(namespace.to_owned(), name.to_owned())))
            .cloned()
            .ok_or_else(|| not_found(resource_id, name))?;
        if let Some(version) =
            meta_str(&object, "resourceVersion").filter(|version| !version.is_empty())
            && version != current.resource_version.to_string()
        {
            return Err(conflict(resource_id, name));
        }
        let updated = merge_update(resource_id, &current.tree, object, subresource)?;
        self.finish_update(&mut inner, resource_id, &current, updated)
    }

    /// Patches an object (`PATCH`); server-side apply creates it if absent.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        resource_id: ResourceId,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        patch_body: &[u8],
        subresource: Subresource,
        field_manager: Option<&str>,
    ) -> Result<Arc<StoredObject>, ApiError> {
        let resource = resource(resource_id);
        let patch_value: Value = match patch_type {
            PatchType::Apply => serde_saphyr::from_slice(patch_body)
                .map_err(|error| ApiError::bad_request(format!("error decoding YAML: {error}")))?,
            _ => serde_json::from_slice(patch_body)
                .map_err(|error| ApiError::bad_request(format!("error decoding patch: {error}")))?,
        };
        if patch_type == PatchType::Apply {
            let manager = field_manager
                .filter(|manager| !manager.is_empty())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "PatchOptions",
                        "meta.k8s.io",
                        "",
                        "fieldManager",
                        "Required value: is required for apply patch",
                    )
                })?;
            if !patch_value.is_object() {
                return Err(ApiError::bad_request("apply patch must be an object"));
            }
            let exists = self.get(resource_id, namespace, name).is_ok();
            if !exists {
                let mut object = patch_value;
                set_at(&mut object, "metadata.name", Value::String(name.to_owned()));
                record_manager(&mut object, manager, "Apply", self.clock.now().to_rfc3339());
                return self.create(resource_id, namespace, object);
            }
        } else if !matches!(patch_type, PatchType::Json) && !patch_value.is_object() {
            return Err(ApiError::bad_request("patch must be a JSON object"));
        }
        let mut inner = self.lock();
        let current = inner
            .objects
            .get(resource_id)
            .and_then(|objects| objects.get(&(namespace.to_owned(), name.to_owned())))
            .cloned()
            .ok_or_else(|| not_found(resource_id, name))?;
        let mut patched = current.value();
        match patch_type {
            PatchType::Merge => patch::merge_patch(&mut patched, &patch_value),
            PatchType::Json => patch::json_patch(&mut patched, &patch_value)?,
            PatchType::StrategicMerge => patch::strategic_merge_patch(&mut patched, &patch_value)?,
            PatchType::Apply => {
                patch::strategic_merge_patch(&mut patched, &patch_value)?;
                if let Some(manager) = field_manager {
                    record_manager(
                        &mut patched,
                        manager,
                        "Apply",
                        self.clock.now().to_rfc3339(),
                    );
                }
            }
        }
        if !patched.is_object() {
            return Err(ApiError::bad_request(
                "the patch turned the object into a non-object",
            ));
        }
        admission::check_type_meta(resource, &mut patched)?;
        if meta_str(&patched, "name") != Some(name) {
            return Err(ApiError::bad_request(
                "metadata.name cannot be changed by a patch",
            ));
        }
        // A resourceVersion in the patch is a precondition.
        if let Some(version) = meta_str(&patched, "resourceVersion")
            && version != current.resource_version.to_string()
        {
            return Err(conflict(resource_id, name));
        }
        let updated = merge_update(resource_id, &current.tree, patched, subresource)?;
        self.finish_update(&mut inner, resource_id, &current, updated)
    }

    /// Read-modify-write for controllers: `change` edits the object and says
    /// whether it changed anything; nothing is written when it did not.
    pub fn modify(
        &self,
        resource_id: ResourceId,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value) -> bool,
    ) -> Result<Arc<StoredObject>, ApiError> {
        let mut inner = self.lock();
        let current = inner
            .objects
            .get(resource_id)
            .and_then(|objects| objects.get(&(namespace.to_owned(), name.to_owned())))
            .cloned()
            .ok_or_else(|| not_found(resource_id, name))?;
        let mut value = current.value();
        if !change(&mut value) {
            return Ok(current);
        }
        self.finish_update(&mut inner, resource_id, &current, value)
    }

    fn finish_update(
        &self,
        inner: &mut StoreInner,
        resource_id: ResourceId,
        current: &Arc<StoredObject>,
        mut updated: Value,
    ) -> Result<Arc<StoredObject>, ApiError> {
        let old: &Value = &current.tree;
        // Immutable metadata.
        for field in [
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match value_at(old, &format!("metadata.{field}")).cloned() {
                Some(value) => set_at(&mut updated, &format!("metadata.{field}"), value),
                None => {
                    object_meta::remove_at(&mut updated, &format!("metadata.{field}"));
                }
            }
        }
        if resource(resource_id).namespaced {
            // namespace kept above
        }
        let generation = value_at(old, "metadata.generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let spec_changed = old.get("spec") != updated.get("spec");
        set_at(
            &mut updated,
            "metadata.generation",
            json!(if spec_changed {
                generation + 1
            } else {
                generation
            }),
        );
        set_at(
            &mut updated,
            "metadata.resourceVersion",
            Value::String(current.resource_version.to_string()),
        );
        admission::validate_update(resource_id, old, &updated)?;
        // The stored tree carries its own resourceVersion, as `updated` now does.
        if *old == updated {
            // A no-op write does not bump the resourceVersion (as upstream).
            return Ok(current.clone());
        }
        let deleting = current.deleting;
        let written = self.write(inner, resource_id, updated, EventType::Modified);
        if deleting
            && finalizers(&written.tree).is_empty()
            && (resource_id != PODS || pod_can_vanish(&written))
        {
            self.remove(
                inner,
                resource_id,
                &written.namespace.clone(),
                &written.name.clone(),
                Propagation::Background,
            );
        }
        Ok(written)
    }

    /// Deletes an object. Returns the object as the response body shows it: the
    /// last state if removed, or with `deletionTimestamp` set if removal waits.
    pub fn delete(
        &self,
        resource_id: ResourceId,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
    ) -> Result<Arc<StoredObject>, ApiError> {
        let mut inner = self.lock();
        let current = inner
            .objects
            .get(resource_id)
            .and_then(|objects| objects.get(&(namespace.to_owned(), name.to_owned())))
            .cloned()
            .ok_or_else(|| not_found(resource_id, name))?;
        if options
            .precondition_uid
            .as_ref()
            .is_some_and(|uid| *uid != current.uid)
        {
            return Err(ApiError::Conflict {
                resource: resource(resource_id).plural.to_owned(),
                group: resource(resource_id).group.to_owned(),
                name: name.to_owned(),
                message: format!(
                    "Precondition failed: UID in precondition: {}, UID in object meta: {}",
                    options.precondition_uid.clone().unwrap_or_default(),
                    current.uid
                ),
            });
        }
        if options
            .precondition_resource_version
            .as_ref()
            .is_some_and(|version| *version != current.resource_version.to_string())
        {
            return Err(conflict(resource_id, name));
        }
        let propagation = options
            .propagation
            .unwrap_or(if resource_id == resources::JOBS {
                // batch/v1 Jobs default to orphaning their pods, as upstream.
                Propagation::Orphan
            } else {
                Propagation::Background
            });
        if resource_id == NAMESPACES {
            self.delete_namespace_contents(&mut inner, name);
        }
        let mut value = current.value();
        let has_finalizers = !finalizers(&value).is_empty();
        let has_dependents = inner
            .dependents
            .get(&current.uid)
            .is_some_and(|set| !set.is_empty());
        let graceful_pod = resource_id == PODS
            && !pod_can_vanish(&current)
            && options.grace_period_seconds != Some(0);
        let foreground = propagation == Propagation::Foreground && has_dependents;
        if propagation == Propagation::Orphan {
            self.orphan_dependents(&mut inner, &current.uid);
        }
        if has_finalizers || foreground || graceful_pod {
            if current.deleting && !foreground {
                return Ok(current);
            }
            let now = self.clock.now().to_rfc3339();
            let metadata = object_at_mut(&mut value, "metadata");
            metadata
                .entry("deletionTimestamp".to_owned())
                .or_insert(Value::String(now));
            let grace = options.grace_period_seconds.unwrap_or_else(|| {
                value_at(&current.tree, "spec.terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(if resource_id == PODS { 30 } else { 0 })
            });
            let metadata = object_at_mut(&mut value, "metadata");
            metadata.insert("deletionGracePeriodSeconds".to_owned(), json!(grace));
            if foreground {
                let list = metadata
                    .entry("finalizers".to_owned())
                    .or_insert(Value::Array(Vec::new()));
                if let Value::Array(items) = list
                    && !items.iter().any(|item| item == "foregroundDeletion")
                {
                    items.push(Value::String("foregroundDeletion".to_owned()));
                }
            }
            let written = self.write(&mut inner, resource_id, value, EventType::Modified);
            if foreground {
                let dependents: Vec<(ResourceId, Key)> = inner
                    .dependents
                    .get(&written.uid)
                    .map(|set| set.iter().cloned().collect())
                    .unwrap_or_default();
                for (dependent_resource, (dependent_namespace, dependent_name)) in dependents {
                    self.delete_dependent(
                        &mut inner,
                        dependent_resource,
                        &dependent_namespace,
                        &dependent_name,
                    );
                }
                // Dependents that vanished at once may have released the owner.
                return Ok(inner
                    .objects
                    .get(resource_id)
                    .and_then(|objects| objects.get(&(namespace.to_owned(), name.to_owned())))
                    .cloned()
                    .unwrap_or(written));
            }
            return Ok(written);
        }
        Ok(self
            .remove(&mut inner, resource_id, namespace, name, propagation)
            .unwrap_or(current))
    }

    /// Removes a pod whose deletion is pending (the kubelet's last step).
    pub fn finish_pod_deletion(&self, namespace: &str, name: &str, uid: &str) {
        let mut inner = self.lock();
        let Some(current) = inner
            .objects
            .get(PODS)
            .and_then(|objects| objects.get(&(namespace.to_owned(), name.to_owned())))
            .cloned()
        else {
            return;
        };
        if current.uid == uid && current.deleting && finalizers(&current.tree).is_empty() {
            self.remove(&mut inner, PODS, namespace, name, Propagation::Background);
        }
    }

    fn delete_dependent(
        &self,
        inner: &mut StoreInner,
        resource_id: ResourceId,
        namespace: &str,
        name: &str,
    ) {
        let Some(current) = inner
            .objects
            .get(resource_id)
            .and_then(|objects| objects.get(&(namespace.to_owned(), name.to_owned())))
            .cloned()
        else {
            return;
        };
        if current.deleting {
            return;
        }
        let has_finalizers = !finalizers(&current.tree).is_empty();
        if has_finalizers || (resource_id == PODS && !pod_can_vanish(&current)) {
            let mut value = current.value();
            let now = self.clock.now().to_rfc3339();
            let metadata = object_at_mut(&mut value, "metadata");
            metadata.insert("deletionTimestamp".to_owned(), Value::String(now));
            metadata.insert("deletionGracePeriodSeconds".to_owned(), json!(30));
            self.write(inner, resource_id, value, EventType::Modified);
        } else {
            self.remove(inner, resource_id, namespace, name, Propagation::Background);
        }
    }

    fn orphan_dependents(&self, inner: &mut StoreInner, owner_uid: &str) {
        let dependents: Vec<(ResourceId, Key)> = inner
            .dependents
            .get(owner_uid)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default();
        for (resource_id, key) in dependents {
            let Some(current) = inner
                .objects
                .get(resource_id)
                .and_then(|objects| objects.get(&key))
                .cloned()
            else {
                continue;
            };
            let mut value = current.value();
            if let Some(Value::Array(owners)) =
                object_meta::value_at_mut(&mut value, "metadata.ownerReferences")
            {
                owners.retain(|owner| owner.get("uid").and_then(Value::as_str) != Some(owner_uid));
                if owners.is_empty() {
                    object_meta::remove_at(&mut value, "metadata.ownerReferences");
                }
            }
            self.write(inner, resource_id, value, EventType::Modified);
        }
    }

    fn delete_namespace_contents(&self, inner: &mut StoreInner, namespace: &str) {
        for resource_id in 0..resources::RESOURCES.len() {
            if !resource(resource_id).namespaced {
                continue;
            }
            let keys: Vec<Key> = inner
                .objects
                .get(resource_id)
                .map(|objects| {
                    objects
                        .keys()
                        .filter(|(ns, _)| ns == namespace)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            for (ns, name) in keys {
                self.remove(inner, resource_id, &ns, &name, Propagation::Background);
            }
        }
    }

    /// Removes an object now, publishes DELETED, and garbage-collects.
    fn remove(
        &self,
        inner: &mut StoreInner,
        resource_id: ResourceId,
        namespace: &str,
        name: &str,
        propagation: Propagation,
    ) -> Option<Arc<StoredObject>> {
        let key = (namespace.to_owned(), name.to_owned());
        let removed = inner.objects.get_mut(resource_id)?.remove(&key)?;
        inner.by_uid.remove(&removed.uid);
        for owner in &removed.owner_uids {
            if let Some(set) = inner.dependents.get_mut(owner) {
                set.remove(&(resource_id, key.clone()));
                if set.is_empty() {
                    inner.dependents.remove(owner);
                }
            }
        }
        inner.resource_version += 1;
        let version = inner.resource_version;
        let mut value = removed.value();
        set_at(
            &mut value,
            "metadata.resourceVersion",
            Value::String(version.to_string()),
        );
        let last = Arc::new(stored(resource_id, value, version));
        self.publish(inner, resource_id, EventType::Deleted, last.clone(), None);
        // Garbage collection.
        let dependents: Vec<(ResourceId, Key)> = inner
            .dependents
            .remove(&removed.uid)
            .map(|set| set.into_iter().collect())
            .unwrap_or_default();
        match propagation {
            Propagation::Orphan => {
                inner
                    .dependents
                    .insert(removed.uid.clone(), dependents.iter().cloned().collect());
                self.orphan_dependents(inner, &removed.uid);
                inner.dependents.remove(&removed.uid);
            }
            Propagation::Background | Propagation::Foreground => {
                for (dependent_resource, (dependent_namespace, dependent_name)) in dependents {
                    self.delete_dependent(
                        inner,
                        dependent_resource,
                        &dependent_namespace,
                        &dependent_name,
                    );
                }
            }
        }
        // Owners waiting in foreground deletion for their last dependent.
        for owner_uid in &removed.owner_uids {
            let waiting = inner
                .dependents
                .get(owner_uid)
                .is_none_or(BTreeSet::is_empty);
            if !waiting {
                continue;
            }
            let Some((owner_resource, owner_key)) = inner.by_uid.get(owner_uid).cloned() else {
                continue;
            };
            let Some(owner) = inner
                .objects
                .get(owner_resource)
                .and_then(|objects| objects.get(&owner_key))
                .cloned()
            else {
                continue;
            };
            let mut owner_value = owner.value();
            if !owner.deleting
                || !finalizers(&owner_value)
                    .iter()
                    .any(|f| f == "foregroundDeletion")
            {
                continue;
            }
            if let Some(Value::Array(items)) =
                object_meta::value_at_mut(&mut owner_value, "metadata.finalizers")
            {
                items.retain(|item| item != "foregroundDeletion");
            }
            let left = finalizers(&owner_value);
            if left.is_empty() {
                object_meta::remove_at(&mut owner_value, "metadata.finalizers");
            }
            self.write(inner, owner_resource, owner_value, EventType::Modified);
            if left.is_empty() {
                self.remove(
                    inner,
                    owner_resource,
                    &owner_key.0,
                    &owner_key.1,
                    Propagation::Background,
                );
            }
        }
        Some(last)
    }

    /// Writes an object with the next resourceVersion and publishes the event.
    fn write(
        &self,
        inner: &mut StoreInner,
        resource_id: ResourceId,
        mut value: Value,
        event_type: EventType,
    ) -> Arc<StoredObject> {
        inner.resource_version += 1;
        let version = inner.resource_version;
        set_at(
            &mut value,
            "metadata.resourceVersion",
            Value::String(version.to_string()),
        );
        let object = Arc::new(stored(resource_id, value, version));
        let key = (object.namespace.clone(), object.name.clone());
        let previous = inner
            .objects
            .get(resource_id)
            .and_then(|objects| objects.get(&key))
            .cloned();
        if let Some(previous) = &previous {
            for owner in &previous.owner_uids {
                if let Some(set) = inner.dependents.get_mut(owner) {
                    set.remove(&(resource_id, key.clone()));
                }
            }
        }
        for owner in &object.owner_uids {
            inner
                .dependents
                .entry(owner.clone())
                .or_default()
                .insert((resource_id, key.clone()));
        }
        inner
            .by_uid
            .insert(object.uid.clone(), (resource_id, key.clone()));
        if let Some(objects) = inner.objects.get_mut(resource_id) {
            objects.insert(key, object.clone());
        }
        self.publish(inner, resource_id, event_type, object.clone(), previous);
        object
    }

    fn publish(
        &self,
        inner: &mut StoreInner,
        resource_id: ResourceId,
        event_type: EventType,
        object: Arc<StoredObject>,
        previous: Option<Arc<StoredObject>>,
    ) {
        let event = Arc::new(StoreEvent {
            resource: resource_id,
            event_type,
            object,
            previous: if event_type == EventType::Modified {
                previous
            } else {
                None
            },
        });
        inner.history.push_back(event.clone());
        while inner.history.len() > inner.history_capacity {
            if let Some(evicted) = inner.history.pop_front() {
                inner.compacted_through = evicted.object.resource_version;
            }
        }
        // No receivers is fine.
        let _ = self.watchers.send(event.clone());
        let _ = self.controllers.send(event);
    }
}

/// A pod that never started on a node (or already finished) goes at once;
/// one the kubelet runs is removed by the kubelet after its grace period.
fn pod_can_vanish(pod: &StoredObject) -> bool {
    let bound = pod
        .field("spec.nodeName")
        .is_some_and(|node| !node.is_empty());
    let phase = pod.field("status.phase").unwrap_or_default();
    !bound || phase == "Succeeded" || phase == "Failed"
}

fn record_manager(object: &mut Value, manager: &str, operation: &str, time: String) {
    let api_version = object.get("apiVersion").cloned().unwrap_or(Value::Null);
    let entry = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": {},
    });
    let metadata = object_at_mut(object, "metadata");
    let list = metadata
        .entry("managedFields".to_owned())
        .or_insert(Value::Array(Vec::new()));
    if let Value::Array(items) = list {
        items.retain(|item| {
            item.get("manager").and_then(Value::as_str) != Some(manager)
                || item.get("operation").and_then(Value::as_str) != Some(operation)
        });
        items.push(entry);
    }
}

/// Combines the body of an update with the live object according to the
/// subresource: the main resource keeps the live status, `/status` keeps
/// everything but the status.
fn merge_update(
    resource_id: ResourceId,
    current: &Value,
    mut updated: Value,
    subresource: Subresource,
) -> Result<Value, ApiError> {
    let has_status = resource(resource_id).has_status;
    match subresource {
        Subresource::Main if has_status => {
            match current.get("status") {
                Some(status) => set_at(&mut updated, "status", status.clone()),
                None => {
                    object_meta::remove_at(&mut updated, "status");
                }
            }
            Ok(updated)
        }
        Subresource::Main => Ok(updated),
        Subresource::Status => {
            let mut result = current.clone();
            match updated.get("status") {
                Some(status) => set_at(&mut result, "status", status.clone()),
                None => {
                    object_meta::remove_at(&mut result, "status");
                }
            }
            if let Some(version) = value_at(&updated, "metadata.resourceVersion").cloned() {
                set_at(&mut result, "metadata.resourceVersion", version);
            }
            let _ = &mut updated;
            Ok(result)
        }
    }
}

fn stored(resource_id: ResourceId, value: Value, resource_version: u64) -> StoredObject {
    let resource = resource(resource_id);
    let fields = resource
        .selectable_fields
        .iter()
        .map(|field| (*field, field_value(&value, field)))
        .collect();
    StoredObject {
        json: Bytes::from(serde_json::to_vec(&value).unwrap_or_default()),
        resource_version,
        namespace: meta_str(&value, "namespace").unwrap_or_default().to_owned(),
        name: meta_str(&value, "name").unwrap_or_default().to_owned(),
        uid: meta_str(&value, "uid").unwrap_or_default().to_owned(),
        labels: string_map_at(&value, "metadata.labels"),
        fields,
        owner_uids: owner_uids(&value),
        deleting: value_at(&value, "metadata.deletionTimestamp").is_some_and(|v| !v.is_null()),
        tree: Arc::new(value),
    }
}

fn field_value(object: &Value, field: &str) -> String {
    let path = match field {
        "source" => "source.component",
        "status.successful" => "status.succeeded",
        other => other,
    };
    match value_at(object, path) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::Bool(flag)) => flag.to_string(),
        _ if field == "spec.unschedulable" => "false".to_owned(),
        _ => String::new(),
    }
}

/// 404 for a resource and name.
pub fn not_found(resource_id: ResourceId, name: &str) -> ApiError {
    let resource = resource(resource_id);
    ApiError::NotFound {
        resource: resource.plural.to_owned(),
        group: resource.group.to_owned(),
        name: name.to_owned(),
    }
}

fn conflict(resource_id: ResourceId, name: &str) -> ApiError {
    let resource = resource(resource_id);
    ApiError::Conflict {
        resource: resource.plural.to_owned(),
        group: resource.group.to_owned(),
        name: name.to_owned(),
        message: "the object has been modified; please apply your changes to the latest version and try again".to_owned(),
    }
}

fn encode_continue(resource_version: u64, key: &Key) -> String {
    let raw = format!("{resource_version}\u{0}{}\u{0}{}", key.0, key.1);
    raw.bytes().map(|byte| format!("{byte:02x}")).collect()
}

fn decode_continue(token: &str) -> Result<(u64, Key), ApiError> {
    let invalid = || {
        ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion")
    };
    if !token.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes: Result<Vec<u8>, _> = (0..token.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(token.get(index..index + 2).unwrap_or("zz"), 16))
        .collect();
    let text = String::from_utf8(bytes.map_err(|_| invalid())?).map_err(|_| invalid())?;
    let mut parts = text.split('\u{0}');
    let version = parts
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(invalid)?;
    let namespace = parts.next().ok_or_else(invalid)?.to_owned();
    let name = parts.next().ok_or_else(invalid)?.to_owned();
    Ok((version, (namespace, name)))
}
