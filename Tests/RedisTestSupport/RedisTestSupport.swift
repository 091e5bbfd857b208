// Test support: loopback redis-server processes. See RedisServer.
