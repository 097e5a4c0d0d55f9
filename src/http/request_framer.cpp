// RFC 9112 §2.2 (message parsing), §6 (message body length), §7.1 (chunked transfer coding).

#include "http/request_framer.h"

#include <algorithm>

#include "http/strings.h"

namespace broker::http {
namespace {

bool isWs(unsigned char c) {
  return c == ' ' || c == '\t';
}

int hexValue(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// qdtext (RFC 9110 §5.6.4): HTAB, SP, VCHAR except '"' and '\', obs-text.
bool isQdText(unsigned char c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
         (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

}  // namespace

RequestFramer::Status RequestFramer::fail(Refusal refusal, std::string message) {
  phase_ = Phase::kError;
  error_ = Error{refusal, std::move(message)};
  pending_.clear();
  return Status::kError;
}

RequestFramer::Status RequestFramer::feed(std::string_view input) {
  if (phase_ == Phase::kError) return Status::kError;
  if (phase_ == Phase::kDone) {
    pending_.append(input);
    return Status::kRequest;
  }
  // Earlier bytes and new ones must be contiguous; in the common case nothing was kept and the
  // input is read where it lies.
  std::string owned;
  std::string_view in = input;
  if (!pending_.empty()) {
    pending_.append(input);
    owned.swap(pending_);
    in = owned;
  }
  const Status s = run(in);
  if (s == Status::kError) return s;
  if (owned.empty()) {
    pending_.assign(in.data(), in.size());
  } else {
    owned.erase(0, owned.size() - in.size());
    pending_.swap(owned);
  }
  return s;
}

void RequestFramer::next() {
  if (phase_ == Phase::kError) return;
  phase_ = Phase::kHead;
  head_scan_ = 0;
  used_ = 0;
  remaining_ = 0;
  chunk_digits_ = false;
  request_ = Request();
  head_ = RequestHead();
}

bool RequestFramer::charge(uint64_t n) {
  used_ += n;
  if (used_ <= max_) return true;
  fail(Refusal::kTooLarge, "request too large");
  return false;
}

RequestFramer::Status RequestFramer::run(std::string_view& in) {
  if (phase_ == Phase::kHead) {
    const Status s = readHead(in);
    if (s != Status::kRequest) return s;
  }
  while (phase_ != Phase::kDone) {
    if (in.empty()) return Status::kNeedMore;
    if (phase_ == Phase::kFixedBody || phase_ == Phase::kChunkData) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
      // Fixed bodies were counted whole against the limit when the head was read.
      if (phase_ == Phase::kChunkData && !charge(n)) return Status::kError;
      request_.body.append(in.data(), n);
      in.remove_prefix(n);
      remaining_ -= n;
      if (remaining_ == 0) {
        phase_ = phase_ == Phase::kFixedBody ? Phase::kDone : Phase::kChunkDataCr;
      }
      continue;
    }
    const auto c = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    if (!charge(1) || !chunkByte(c)) return Status::kError;
  }
  return Status::kRequest;
}

// The head ends at the first CRLF CRLF. Every LF must follow a CR (no bare LF line ends, which
// some parsers accept and others do not); a bare CR is refused by parseRequestHead, since it is a
// control character inside a line.
RequestFramer::Status RequestFramer::readHead(std::string_view& in) {
  size_t pos = head_scan_;
  while (true) {
    const size_t lf = in.find('\n', pos);
    if (lf == std::string_view::npos) {
      head_scan_ = in.size();
      if (in.size() > max_) return fail(Refusal::kTooLarge, "request too large");
      return Status::kNeedMore;
    }
    // Past the limit first, so that where the bytes were cut never changes the answer.
    if (lf >= max_) return fail(Refusal::kTooLarge, "request too large");
    if (lf == 0 || in[lf - 1] != '\r') return fail(Refusal::kMalformed, "bare LF in request head");
    pos = lf + 1;
    if (lf >= 3 && in[lf - 2] == '\n') break;  // "\r\n\r\n": the empty line
    if (lf == 1) return fail(Refusal::kMalformed, "malformed request line");  // empty first line
  }
  auto head = parseRequestHead(in.substr(0, pos), request_);
  if (!head) return fail(Refusal::kMalformed, head.error().message);
  head_ = *head;
  in.remove_prefix(pos);
  used_ = pos;
  if (head_.chunked) {
    phase_ = Phase::kChunkSize;
  } else if (head_.content_length && *head_.content_length > 0) {
    if (*head_.content_length > max_ - pos) return fail(Refusal::kTooLarge, "request too large");
    remaining_ = *head_.content_length;
    phase_ = Phase::kFixedBody;
  } else {
    phase_ = Phase::kDone;
  }
  return Status::kRequest;
}

// chunked-body = *chunk last-chunk trailer-section CRLF
// chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
// chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
// chunk-ext-val = token / quoted-string; trailer-section = *( field-line CRLF )
bool RequestFramer::chunkByte(unsigned char c) {
  auto refuse = [this](const char* why) {
    fail(Refusal::kMalformed, why);
    return false;
  };
  auto afterExtension = [&](Phase ws_phase) {
    if (isWs(c)) {
      phase_ = ws_phase;
    } else if (c == ';') {
      phase_ = Phase::kExtNameStart;
    } else if (c == '\r') {
      phase_ = Phase::kChunkSizeLf;
    } else {
      return refuse("malformed chunk extension");
    }
    return true;
  };
  switch (phase_) {
    case Phase::kChunkSize: {
      const int v = hexValue(c);
      if (v >= 0) {
        remaining_ = remaining_ * 16 + static_cast<uint64_t>(v);
        chunk_digits_ = true;
        // Refused as soon as the declared size cannot fit, before a byte of it is stored.
        if (remaining_ > max_ - std::min<uint64_t>(used_, max_)) {
          fail(Refusal::kTooLarge, "request too large");
          return false;
        }
        return true;
      }
      if (!chunk_digits_) return refuse("malformed chunk size");
      return afterExtension(Phase::kExtBeforeSemi);
    }
    case Phase::kExtBeforeSemi:
      if (isWs(c)) return true;
      if (c == ';') {
        phase_ = Phase::kExtNameStart;
        return true;
      }
      return refuse("malformed chunk extension");
    case Phase::kExtNameStart:
      if (isWs(c)) return true;
      if (!isTokenChar(c)) return refuse("malformed chunk extension");
      phase_ = Phase::kExtName;
      return true;
    case Phase::kExtName:
      if (isTokenChar(c)) return true;
      if (c == '=') {
        phase_ = Phase::kExtValueStart;
        return true;
      }
      return afterExtension(Phase::kExtAfterName);
    case Phase::kExtAfterName:
      if (isWs(c)) return true;
      if (c == '=') {
        phase_ = Phase::kExtValueStart;
      } else if (c == ';') {
        phase_ = Phase::kExtNameStart;
      } else {
        return refuse("malformed chunk extension");
      }
      return true;
    case Phase::kExtValueStart:
      if (isWs(c)) return true;
      if (c == '"') {
        phase_ = Phase::kExtQuoted;
      } else if (isTokenChar(c)) {
        phase_ = Phase::kExtToken;
      } else {
        return refuse("malformed chunk extension");
      }
      return true;
    case Phase::kExtToken:
      if (isTokenChar(c)) return true;
      return afterExtension(Phase::kExtBeforeSemi);
    case Phase::kExtQuoted:
      if (c == '"') {
        phase_ = Phase::kExtAfterQuoted;
      } else if (c == '\\') {
        phase_ = Phase::kExtQuotedPair;
      } else if (!isQdText(c)) {
        return refuse("malformed chunk extension");
      }
      return true;
    case Phase::kExtQuotedPair:
      if (!isFieldValueChar(c)) return refuse("malformed chunk extension");
      phase_ = Phase::kExtQuoted;
      return true;
    case Phase::kExtAfterQuoted:
      return afterExtension(Phase::kExtBeforeSemi);
    case Phase::kChunkSizeLf:
      if (c != '\n') return refuse("malformed chunk size line");
      phase_ = remaining_ == 0 ? Phase::kTrailerLineStart : Phase::kChunkData;
      return true;
    case Phase::kChunkDataCr:
      if (c != '\r') return refuse("chunk data longer than its size");
      phase_ = Phase::kChunkDataLf;
      return true;
    case Phase::kChunkDataLf:
      if (c != '\n') return refuse("chunk data longer than its size");
      phase_ = Phase::kChunkSize;
      chunk_digits_ = false;
      return true;
    case Phase::kTrailerLineStart:
      if (c == '\r') {
        phase_ = Phase::kFinalLf;
      } else if (isTokenChar(c)) {
        phase_ = Phase::kTrailerName;  // a line starting with whitespace (obs-fold) is refused
      } else {
        return refuse("malformed trailer");
      }
      return true;
    case Phase::kTrailerName:
      if (c == ':') {
        phase_ = Phase::kTrailerValue;
      } else if (!isTokenChar(c)) {
        return refuse("malformed trailer");
      }
      return true;
    case Phase::kTrailerValue:
      if (c == '\r') {
        phase_ = Phase::kTrailerLf;
      } else if (!isFieldValueChar(c)) {
        return refuse("malformed trailer");
      }
      return true;
    case Phase::kTrailerLf:
      if (c != '\n') return refuse("malformed trailer");
      phase_ = Phase::kTrailerLineStart;
      return true;
    case Phase::kFinalLf:
      if (c != '\n') return refuse("malformed chunked body end");
      phase_ = Phase::kDone;
      return true;
    default:
      return refuse("malformed chunked body");
  }
}

}  // namespace broker::http
