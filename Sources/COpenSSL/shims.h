#ifndef COPENSSL_SHIMS_H
#define COPENSSL_SHIMS_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#endif
