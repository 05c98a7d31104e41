//! ferry-cluster: a local Kubernetes API server for ferry's tests, benchmarks and demo.
//! It speaks the real wire protocol (HTTPS, bearer tokens, discovery, OpenAPI, watch,
//! server-side tables, exec and port-forward over WebSocket and SPDY) and runs pods as
//! real containers under runc. See `tests/cluster/README.md` for what is supported and
//! the control interface.
//!
//! Module map (dependencies point downwards):
//! - [`cluster`]: options, start-up, shutdown, `down`; owns everything below.
//! - [`apiserver`]: HTTPS, auth and routing → [`resources`], [`discovery`], [`table`],
//!   [`control`], exec front ends [`ws_exec`] / [`spdy`], [`portforward`] (over the SPDY
//!   session layer [`spdy::session`]).
//! - [`resources`] + [`admission`]: create/update/patch/delete with validation;
//!   [`protobuf`] decodes protobuf request bodies (kubectl ≥ 1.32) into JSON;
//!   [`controllers`]: the Deployment controller.
//! - [`store`]: objects, resourceVersions, the watch log.
//! - [`kubelet`]: pods → containers through [`runtime`] (runc, images).
//! - [`exec`]: the exec bridge (shaping, counters) over [`streams::ExecStreams`].

pub mod admission;
pub mod apiserver;
pub mod cluster;
pub mod config_objects;
pub mod config_volumes;
pub mod control;
pub mod controllers;
pub mod discovery;
pub mod exec;
pub mod http_util;
pub mod kubelet;
pub mod pod_env;
pub mod portforward;
pub mod protobuf;
pub mod quantity;
pub mod resources;
pub mod runtime;
pub mod scale;
pub mod selectors;
pub mod services;
pub mod spdy;
pub mod status;
pub mod store;
pub mod streams;
pub mod table;
pub mod tls;
pub mod util;
pub mod ws_exec;
