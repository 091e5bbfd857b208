#ifndef COPENSSL_SHIMS_H
#define COPENSSL_SHIMS_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

// Swift cannot call C macros, so each macro the TLS layer needs gets a prefixed
// `static inline` function here. Plain OpenSSL functions are called directly.

/// Sets the SNI host name sent in the ClientHello (macro `SSL_set_tlsext_host_name`).
static inline int COpenSSL_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// Sets the lowest protocol version a context accepts (macro `SSL_CTX_set_min_proto_version`).
static inline int COpenSSL_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

/// Adds mode bits to a context (macro `SSL_CTX_set_mode`).
static inline long COpenSSL_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

/// The number of bytes waiting to be read from a BIO (macro `BIO_pending`).
static inline size_t COpenSSL_BIO_pending(BIO *bio) {
    return (size_t)BIO_pending(bio);
}

/// Makes a memory BIO report "retry" instead of EOF when it is empty (macro `BIO_set_mem_eof_return`).
static inline long COpenSSL_BIO_set_mem_eof_return(BIO *bio, int value) {
    return BIO_set_mem_eof_return(bio, value);
}

/// `TLS1_2_VERSION`, a macro constant.
static inline int COpenSSL_TLS1_2_VERSION(void) { return TLS1_2_VERSION; }

/// `TLS1_3_VERSION`, a macro constant.
static inline int COpenSSL_TLS1_3_VERSION(void) { return TLS1_3_VERSION; }

/// The context options every connection uses: no renegotiation, no compression, no session tickets.
static inline uint64_t COpenSSL_default_options(void) {
    return (uint64_t)(SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
}

/// `SSL_VERIFY_NONE`.
static inline int COpenSSL_SSL_VERIFY_NONE(void) { return SSL_VERIFY_NONE; }

/// `SSL_VERIFY_PEER`.
static inline int COpenSSL_SSL_VERIFY_PEER(void) { return SSL_VERIFY_PEER; }

/// `SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT`: a server that requires a client certificate.
static inline int COpenSSL_SSL_VERIFY_REQUIRE_PEER(void) {
    return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
}

/// Whether a string is an IPv4 or IPv6 address literal, as OpenSSL parses it.
static inline int COpenSSL_is_ip_address(const char *text) {
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(text);
    if (ip == NULL) {
        return 0;
    }
    ASN1_OCTET_STRING_free(ip);
    return 1;
}

/// The host name the peer sent as SNI, or NULL (macro-free wrapper for symmetry with the setter).
static inline const char *COpenSSL_SSL_get_servername(const SSL *ssl) {
    return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
}

#endif
