//! Every field the config reader knows, per kind of YAML object, and what ferry does with
//! it. The reader checks each mapping against these tables (unknown and unsupported fields
//! become warnings or, in sync entries, errors); `docs/config.schema.json` declares exactly these fields (a test keeps
//! both in step); a front end may use them for completion or hover text.

/// What ferry does with a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// ferry reads the field and honours it.
    Read,
    /// A DevSpace setting that changes how the sync (or the synced container) behaves and
    /// that ferry does not implement. Reading a file that sets it produces a warning naming
    /// the field and this reason — unless the value is `false`, `null` or empty, which
    /// asks for nothing.
    Unsupported(&'static str),
    /// A DevSpace setting outside file sync (deployments, port forwarding, terminals, …)
    /// or one ferry has no use for; skipped without a warning, for this reason.
    Skipped(&'static str),
}

/// What the reader makes of a key an [`Object`] does not list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unknown {
    /// Allowed silently: sections of DevSpace features ferry only peeks into, such as
    /// `images.<name>`.
    Allowed,
    /// A warning with a "did you mean": sections whose fields do not decide what is
    /// synced (the top level, `dev.<name>`, variables).
    Warning,
    /// An error with a "did you mean": sync entries and their parts. A typo there
    /// (`excludePath:` for `excludePaths:`) would sync what the user meant to keep out,
    /// so nothing is synced until it is fixed.
    Error,
}

/// One field of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The key, exactly as written in YAML.
    pub name: &'static str,
    /// What ferry does with it.
    pub support: Support,
}

/// One kind of YAML mapping the reader checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object {
    /// The name of its definition in `docs/config.schema.json` (`definitions.<name>`).
    pub definition: &'static str,
    /// Where such objects are written, e.g. `dev.<name>.sync[]`.
    pub location: &'static str,
    /// What a key not listed means.
    pub unknown: Unknown,
    /// The fields, in documentation order.
    pub fields: &'static [Field],
}

impl Object {
    /// The field named `name`, if the object has one.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

const fn read(name: &'static str) -> Field {
    Field {
        name,
        support: Support::Read,
    }
}

const fn unsupported(name: &'static str, why: &'static str) -> Field {
    Field {
        name,
        support: Support::Unsupported(why),
    }
}

const fn skipped(name: &'static str, why: &'static str) -> Field {
    Field {
        name,
        support: Support::Skipped(why),
    }
}

const NOT_SYNC: &str = "a DevSpace feature outside file sync";
const NO_HELPER: &str = "ferry injects no helper binary, so it needs no architecture";
const POD_REPLACEMENT: &str =
    "ferry does not replace or patch pods: it syncs into the pod that runs now";
const RESTART_HELPER: &str =
    "it needs DevSpace's restart helper injected into the image, and ferry injects nothing";

/// `version: v2beta1` files: the top level.
pub const V2BETA1: Object = Object {
    definition: "v2beta1",
    location: "(top level, version v2beta1)",
    unknown: Unknown::Warning,
    fields: &[
        read("version"),
        read("name"),
        read("vars"),
        read("dev"),
        read("images"),
        unsupported(
            "imports",
            "ferry does not load imported files: their dev and vars sections are not read",
        ),
        read("profiles"),
        skipped("deployments", NOT_SYNC),
        skipped("pipelines", NOT_SYNC),
        skipped("commands", NOT_SYNC),
        skipped("functions", NOT_SYNC),
        skipped("localRegistry", NOT_SYNC),
        skipped("dependencies", NOT_SYNC),
        skipped("hooks", NOT_SYNC),
        skipped("pullSecrets", NOT_SYNC),
        skipped("require", NOT_SYNC),
    ],
};

/// `dev.<name>` in `v2beta1` files.
pub const V2BETA1_DEV: Object = Object {
    definition: "v2beta1DevContainer",
    location: "dev.<name>",
    unknown: Unknown::Warning,
    fields: &[
        read("imageSelector"),
        read("labelSelector"),
        read("namespace"),
        read("container"),
        read("sync"),
        read("containers"),
        skipped("arch", NO_HELPER),
        skipped("ports", NOT_SYNC),
        skipped("reversePorts", NOT_SYNC),
        skipped("open", NOT_SYNC),
        skipped("terminal", NOT_SYNC),
        skipped("logs", NOT_SYNC),
        skipped("attach", NOT_SYNC),
        skipped("ssh", NOT_SYNC),
        skipped("proxyCommands", NOT_SYNC),
        unsupported("devImage", POD_REPLACEMENT),
        unsupported("command", POD_REPLACEMENT),
        unsupported("args", POD_REPLACEMENT),
        unsupported("workingDir", POD_REPLACEMENT),
        unsupported("env", POD_REPLACEMENT),
        unsupported("resources", POD_REPLACEMENT),
        unsupported("patches", POD_REPLACEMENT),
        unsupported("persistPaths", POD_REPLACEMENT),
        unsupported("persistenceOptions", POD_REPLACEMENT),
        unsupported("restartHelper", POD_REPLACEMENT),
    ],
};

/// `dev.<name>.containers.<container>` in `v2beta1` files.
pub const V2BETA1_CONTAINER: Object = Object {
    definition: "v2beta1DevContainerOverride",
    location: "dev.<name>.containers.<container>",
    unknown: Unknown::Warning,
    fields: &[
        read("container"),
        read("sync"),
        skipped("arch", NO_HELPER),
        skipped("reversePorts", NOT_SYNC),
        skipped("terminal", NOT_SYNC),
        skipped("logs", NOT_SYNC),
        skipped("attach", NOT_SYNC),
        skipped("ssh", NOT_SYNC),
        skipped("proxyCommands", NOT_SYNC),
        unsupported("devImage", POD_REPLACEMENT),
        unsupported("command", POD_REPLACEMENT),
        unsupported("args", POD_REPLACEMENT),
        unsupported("workingDir", POD_REPLACEMENT),
        unsupported("env", POD_REPLACEMENT),
        unsupported("resources", POD_REPLACEMENT),
        unsupported("persistPaths", POD_REPLACEMENT),
        unsupported("restartHelper", POD_REPLACEMENT),
    ],
};

/// Sync fields ferry does not implement, shared by all formats.
const START_CONTAINER: Field = unsupported("startContainer", RESTART_HELPER);
const WAIT_INITIAL_SYNC: Field = unsupported(
    "waitInitialSync",
    "ferry blocks nothing on the initial sync: the editor shows its progress",
);
const PRINT_LOGS: Field = unsupported(
    "printLogs",
    "ferry writes its sync log under .ferry/ and reports to the editor",
);
const COMPARE_BY: Field = unsupported(
    "initialSyncCompareBy",
    "ferry has its own change detection; the comparison cannot be chosen",
);
const NO_WATCH: Field = unsupported(
    "noWatch",
    "ferry keeps syncing after the initial sync until it is stopped",
);
const FILE: Field = read("file");

/// `dev.<name>.sync[]` (and `dev.<name>.containers.<c>.sync[]`) entries in `v2beta1` files.
pub const V2BETA1_SYNC: Object = Object {
    definition: "v2beta1SyncEntry",
    location: "dev.<name>.sync[]",
    unknown: Unknown::Error,
    fields: &[
        read("path"),
        read("excludePaths"),
        read("excludeFile"),
        read("uploadExcludePaths"),
        read("uploadExcludeFile"),
        read("downloadExcludePaths"),
        read("downloadExcludeFile"),
        read("initialSync"),
        read("disableUpload"),
        read("disableDownload"),
        read("bandwidthLimits"),
        read("polling"),
        read("onUpload"),
        COMPARE_BY,
        WAIT_INITIAL_SYNC,
        NO_WATCH,
        FILE,
        PRINT_LOGS,
        START_CONTAINER,
    ],
};

/// `onUpload` of a sync entry (all formats that have it).
pub const ON_UPLOAD: Object = Object {
    definition: "onUpload",
    location: "…sync[].onUpload",
    unknown: Unknown::Error,
    fields: &[
        read("exec"),
        unsupported("restartContainer", RESTART_HELPER),
        unsupported(
            "execRemote",
            "these deprecated hooks run inside DevSpace's helper: use onUpload.exec",
        ),
    ],
};

/// `onUpload.exec[]` entries.
pub const UPLOAD_HOOK: Object = Object {
    definition: "uploadHook",
    location: "…sync[].onUpload.exec[]",
    unknown: Unknown::Error,
    fields: &[
        read("name"),
        read("command"),
        read("args"),
        read("failOnError"),
        read("local"),
        read("once"),
        read("onChange"),
    ],
};

/// `bandwidthLimits` of a sync entry (all formats).
pub const BANDWIDTH_LIMITS: Object = Object {
    definition: "bandwidthLimits",
    location: "…sync[].bandwidthLimits",
    unknown: Unknown::Error,
    fields: &[read("download"), read("upload")],
};

const VAR_PROMPT: &str = "only affects how DevSpace asks for or caches the value";

/// A variable definition: `vars.<NAME>` (v6, mapping form) or `vars[]` (v4/v5, list form
/// with `name`).
pub const VARIABLE: Object = Object {
    definition: "variable",
    location: "vars.<NAME> / vars[]",
    unknown: Unknown::Warning,
    fields: &[
        read("name"),
        read("value"),
        read("default"),
        read("source"),
        read("command"),
        read("commands"),
        read("args"),
        skipped("question", VAR_PROMPT),
        skipped("options", VAR_PROMPT),
        skipped("password", VAR_PROMPT),
        skipped("validationPattern", VAR_PROMPT),
        skipped("validationMessage", VAR_PROMPT),
        skipped("noCache", VAR_PROMPT),
        skipped("alwaysResolve", VAR_PROMPT),
    ],
};

/// `images.<name>`: ferry only reads the image reference, for `imageSelector` helpers
/// and `imageName`.
pub const IMAGE: Object = Object {
    definition: "image",
    location: "images.<name>",
    unknown: Unknown::Allowed,
    fields: &[read("image"), read("name")],
};

/// `version: v1` / `v1alpha1` files (the seed's `.devspace/config.yaml`): the top level.
pub const DEVSPACE_SYNC: Object = Object {
    definition: "devSpaceSyncConfig",
    location: "(top level, version v1 / v1alpha1)",
    unknown: Unknown::Error,
    fields: &[
        read("version"),
        read("devSpace"),
        read("images"),
        skipped("cluster", NOT_SYNC),
        skipped("registries", NOT_SYNC),
        skipped("internalRegistry", NOT_SYNC),
        skipped("tiller", NOT_SYNC),
    ],
};

/// `devSpace` in `v1` / `v1alpha1` files.
pub const DEVSPACE_SECTION: Object = Object {
    definition: "devSpaceSection",
    location: "devSpace",
    unknown: Unknown::Warning,
    fields: &[
        read("sync"),
        read("services"),
        skipped("deployments", NOT_SYNC),
        skipped("ports", NOT_SYNC),
        skipped("portForwarding", NOT_SYNC),
        skipped("terminal", NOT_SYNC),
        skipped("release", NOT_SYNC),
        skipped("autoReload", NOT_SYNC),
    ],
};

/// `devSpace.services[]` in `v1` / `v1alpha1` files (named selectors, `service:`).
pub const DEVSPACE_SERVICE: Object = Object {
    definition: "devSpaceService",
    location: "devSpace.services[]",
    unknown: Unknown::Warning,
    fields: &[
        read("name"),
        read("labelSelector"),
        read("namespace"),
        read("containerName"),
        read("resourceType"),
    ],
};

/// `version: v1alpha2` … `v1beta11` files: the top level.
pub const DEV_SYNC: Object = Object {
    definition: "devSyncConfig",
    location: "(top level, version v1alpha2 … v1beta11)",
    unknown: Unknown::Error,
    fields: &[
        read("version"),
        read("dev"),
        read("images"),
        read("vars"),
        read("profiles"),
        skipped("deployments", NOT_SYNC),
        skipped("cluster", NOT_SYNC),
        skipped("commands", NOT_SYNC),
        skipped("hooks", NOT_SYNC),
        skipped("dependencies", NOT_SYNC),
        skipped("pullSecrets", NOT_SYNC),
        skipped("require", NOT_SYNC),
    ],
};

/// `dev` in `v1alpha2` … `v1beta11` files.
pub const DEV_SECTION: Object = Object {
    definition: "devSection",
    location: "dev",
    unknown: Unknown::Warning,
    fields: &[
        read("sync"),
        read("selectors"),
        skipped("overrideImages", NOT_SYNC),
        skipped("ports", NOT_SYNC),
        skipped("terminal", NOT_SYNC),
        skipped("autoReload", NOT_SYNC),
        skipped("interactive", NOT_SYNC),
        skipped("open", NOT_SYNC),
        skipped("logs", NOT_SYNC),
        unsupported("replacePods", POD_REPLACEMENT),
    ],
};

/// `dev.selectors[]` in `v1alpha2` / `v1alpha3` files (named selectors, `selector:`).
pub const DEV_SELECTOR: Object = Object {
    definition: "devSelector",
    location: "dev.selectors[]",
    unknown: Unknown::Warning,
    fields: &[
        read("name"),
        read("labelSelector"),
        read("namespace"),
        read("containerName"),
    ],
};

/// Sync entries of the older formats: `devSpace.sync[]` (v1/v1alpha1) and `dev.sync[]`
/// (v1alpha2 … v1beta11). One table for both: each version added fields to the same
/// entry type.
pub const LEGACY_SYNC: Object = Object {
    definition: "legacySyncEntry",
    location: "devSpace.sync[] / dev.sync[]",
    unknown: Unknown::Error,
    fields: &[
        read("name"),
        read("labelSelector"),
        read("imageSelector"),
        read("imageName"),
        read("selector"),
        read("service"),
        read("namespace"),
        read("containerName"),
        read("resourceType"),
        read("localSubPath"),
        read("containerPath"),
        read("excludePaths"),
        read("excludeFile"),
        read("uploadExcludePaths"),
        read("uploadExcludeFile"),
        read("downloadExcludePaths"),
        read("downloadExcludeFile"),
        read("initialSync"),
        read("downloadOnInitialSync"),
        read("disableUpload"),
        read("disableDownload"),
        read("bandwidthLimits"),
        read("polling"),
        read("onUpload"),
        skipped("arch", NO_HELPER),
        WAIT_INITIAL_SYNC,
        PRINT_LOGS,
        START_CONTAINER,
        unsupported(
            "throttleChangeDetection",
            "ferry has its own change detection and does not throttle it",
        ),
        unsupported(
            "onDownload",
            "ferry runs no hooks after downloads (onDownload.execLocal)",
        ),
    ],
};

/// `profiles[]` (v1beta3 and later, v2beta1): applied before the rest is read
/// (see `config::profiles`).
pub const PROFILE: Object = Object {
    definition: "profile",
    location: "profiles[]",
    unknown: Unknown::Error,
    fields: &[
        read("name"),
        skipped("description", "shown by DevSpace only"),
        read("activation"),
        read("parent"),
        read("parents"),
        read("replace"),
        read("merge"),
        read("patches"),
        // Read to refuse: an error when the profile applies (config::profiles).
        read("strategicMerge"),
    ],
};

/// `profiles[].activation[]`.
pub const PROFILE_ACTIVATION: Object = Object {
    definition: "profileActivation",
    location: "profiles[].activation[]",
    unknown: Unknown::Error,
    fields: &[read("env"), read("vars")],
};

/// `profiles[].parents[]`.
pub const PROFILE_PARENT: Object = Object {
    definition: "profileParent",
    location: "profiles[].parents[]",
    unknown: Unknown::Error,
    fields: &[
        read("profile"),
        // Read to refuse: an error when the profile applies (config::profiles).
        read("source"),
    ],
};

/// `profiles[].patches[]`.
pub const PROFILE_PATCH: Object = Object {
    definition: "profilePatch",
    location: "profiles[].patches[]",
    unknown: Unknown::Error,
    fields: &[read("op"), read("path"), read("value")],
};

/// `ferry.yaml` (ferry's own settings, beside the config file): the top level.
pub const FERRY: Object = Object {
    definition: "ferryConfig",
    location: "ferry.yaml",
    unknown: Unknown::Error,
    fields: &[read("version"), read("defaults"), read("dev")],
};

/// `ferry.yaml`: `defaults`, for every sync path of the config.
pub const FERRY_DEFAULTS: Object = Object {
    definition: "ferryDefaults",
    location: "ferry.yaml `defaults`",
    unknown: Unknown::Error,
    fields: &[read("symlinks"), read("replicas")],
};

/// `ferry.yaml`: `dev.<name>`, for every sync path of one dev container.
pub const FERRY_DEV: Object = Object {
    definition: "ferryDev",
    location: "ferry.yaml `dev.<name>`",
    unknown: Unknown::Error,
    fields: &[read("symlinks"), read("replicas"), read("sync")],
};

/// `ferry.yaml`: `dev.<name>.sync[]`, for the sync paths of that dev container written
/// with this `path`.
pub const FERRY_SYNC: Object = Object {
    definition: "ferrySyncPath",
    location: "ferry.yaml `dev.<name>.sync[]`",
    unknown: Unknown::Error,
    fields: &[read("path"), read("symlinks"), read("replicas")],
};

/// Every object kind of `ferry.yaml` (`docs/ferry.schema.json`), each once.
pub fn ferry_objects() -> &'static [Object] {
    &[FERRY, FERRY_DEFAULTS, FERRY_DEV, FERRY_SYNC]
}

/// Every object kind the reader checks in a config file, each once.
pub fn objects() -> &'static [Object] {
    &[
        V2BETA1,
        V2BETA1_DEV,
        V2BETA1_CONTAINER,
        V2BETA1_SYNC,
        ON_UPLOAD,
        UPLOAD_HOOK,
        BANDWIDTH_LIMITS,
        VARIABLE,
        IMAGE,
        DEVSPACE_SYNC,
        DEVSPACE_SECTION,
        DEVSPACE_SERVICE,
        DEV_SYNC,
        DEV_SECTION,
        DEV_SELECTOR,
        LEGACY_SYNC,
        PROFILE,
        PROFILE_ACTIVATION,
        PROFILE_PARENT,
        PROFILE_PATCH,
    ]
}
