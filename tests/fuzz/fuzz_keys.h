#pragma once
// The public keys the token fuzz targets trust. Their private halves signed the valid tokens of
// the seed corpora once (RS256 and ES256); they are not needed to run or replay the targets.

namespace broker::fuzz {

inline constexpr const char* kRsaKid = "fuzz-rsa";
inline constexpr const char* kRsaN =
    "jd56BCTqy3u2Msk8J4UxT-5bYr1hXzfv1uIxhf9Ga9M4aZxExT66RtLuTEDN0SI8BWEiV_BohvgDaheyjFLjYrVnE13Arr"
    "pEGDvAiW44UzUpZGchVUwGYAn8X2vIOVrHIvHc7u3XXWnRYP55TEQVtqjcfZAxbeuyuoob2jd9ULsR8HTqXg0yrJ1dEgg"
    "d80nxs-pKlpFzCJotYnSzoCO7lI6g4TC3Llkk6A3VAlmBmZIWQ6A37ozjytf6PvOzPx-7YjFt0dQRCWT4GCPYlbeRmpHR"
    "2a4_u9RaBqN2Tc2-ZkAlB2Y9nCcNLrFEiwwV-k4FcOzrubkWtzkGvK7bsxc8TQ";
inline constexpr const char* kRsaE = "AQAB";

inline constexpr const char* kEcKid = "fuzz-ec";
inline constexpr const char* kEcX = "vU0hVnlCAszgvGpQXGf7L5Kw3jLsgmgJl-HFTCmoV4I";
inline constexpr const char* kEcY = "nBhooU7vDYNXEiLxCe3R6O06aMbVn-OAqnSBujt4cmI";

// The time the seed tokens were made for: they are valid at kNow.
inline constexpr long long kNow = 1'700'000'000;

}  // namespace broker::fuzz
