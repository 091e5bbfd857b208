// The OpenSSL client TLS handler. See OpenSSLClientHandler.
