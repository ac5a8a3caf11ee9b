//! Per-domain daemonless registry: processes, nodes, endpoints (the graph).
