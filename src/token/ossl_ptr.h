#pragma once
// Owning pointers for OpenSSL objects, so that every early return frees what it allocated.

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>

namespace broker::token::detail {

template <class T, void (*Free)(T*)>
struct OsslFree {
  void operator()(T* p) const { Free(p); }
};

// BIO_free returns int, so it cannot be a Free argument directly.
inline void bioFree(BIO* b) {
  BIO_free(b);
}

template <class T, void (*Free)(T*)>
using OsslPtr = std::unique_ptr<T, OsslFree<T, Free>>;

using BioPtr = OsslPtr<BIO, bioFree>;
using BnPtr = OsslPtr<BIGNUM, BN_free>;
using CipherCtxPtr = OsslPtr<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using CipherPtr = OsslPtr<EVP_CIPHER, EVP_CIPHER_free>;
using DecoderCtxPtr = OsslPtr<OSSL_DECODER_CTX, OSSL_DECODER_CTX_free>;
using MdCtxPtr = OsslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using ParamBldPtr = OsslPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamPtr = OsslPtr<OSSL_PARAM, OSSL_PARAM_free>;
using PkeyCtxPtr = OsslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using PkeyPtr = OsslPtr<EVP_PKEY, EVP_PKEY_free>;

}  // namespace broker::token::detail
