// The per-node connection pool. See ConnectionPool.
