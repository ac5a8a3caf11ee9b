// Minimal C ABI over std::string / std::u16string for msg_support (the C++
// in-memory message representation). Compiled by build.rs with the system
// C++ compiler; exceptions never cross into Rust.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

// std::vector<T>::assign from a range: one copy, no value-initialization
// (resize + memcpy writes every byte twice). Refused (false) when `src` is
// not aligned for T: the caller then falls back to resize + memcpy.
template<typename T>
bool assign_vector(void * v, const void * src, std::size_t n)
{
  if (reinterpret_cast<std::uintptr_t>(src) % alignof(T) != 0) {
    return false;
  }
  try {
    const T * p = static_cast<const T *>(src);
    static_cast<std::vector<T> *>(v)->assign(p, p + n);
    return true;
  } catch (...) {
    return false;
  }
}

// Piece `n` elements of a `total`-element array being filled front to back
// (a streamed sample: each piece as soon as its producer wrote it). The
// first piece clears and reserves once, so no piece reallocates; each
// insert at the end of a trivially copyable vector is one memmove.
template<typename T>
bool append_vector(void * v, const void * src, std::size_t n, std::size_t total, bool first)
{
  if (reinterpret_cast<std::uintptr_t>(src) % alignof(T) != 0) {
    return false;
  }
  try {
    auto * vec = static_cast<std::vector<T> *>(v);
    const T * p = static_cast<const T *>(src);
    if (first) {
      vec->clear();
      vec->reserve(total);
    }
    vec->insert(vec->end(), p, p + n);
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

extern "C" {

bool renoir_cxx_vector_append(
  void * v, int kind, const void * src, std::size_t n, std::size_t total, bool first)
{
  switch (kind) {
    case 1: return append_vector<unsigned char>(v, src, n, total, first);
    case 2: return append_vector<std::int8_t>(v, src, n, total, first);
    case 3: return append_vector<std::uint16_t>(v, src, n, total, first);
    case 4: return append_vector<std::int16_t>(v, src, n, total, first);
    case 5: return append_vector<char16_t>(v, src, n, total, first);
    case 6: return append_vector<std::uint32_t>(v, src, n, total, first);
    case 7: return append_vector<std::int32_t>(v, src, n, total, first);
    case 8: return append_vector<std::uint64_t>(v, src, n, total, first);
    case 9: return append_vector<std::int64_t>(v, src, n, total, first);
    case 10: return append_vector<float>(v, src, n, total, first);
    case 11: return append_vector<double>(v, src, n, total, first);
    default: return false;
  }
}

// `kind` names the element type exactly as rosidl_generator_cpp declares
// the vector (see walk.rs `cxx_vector_kind`).
bool renoir_cxx_vector_assign(void * v, int kind, const void * src, std::size_t n)
{
  switch (kind) {
    case 1: return assign_vector<unsigned char>(v, src, n);  // byte, char, uint8
    case 2: return assign_vector<std::int8_t>(v, src, n);
    case 3: return assign_vector<std::uint16_t>(v, src, n);
    case 4: return assign_vector<std::int16_t>(v, src, n);
    case 5: return assign_vector<char16_t>(v, src, n);  // wchar
    case 6: return assign_vector<std::uint32_t>(v, src, n);
    case 7: return assign_vector<std::int32_t>(v, src, n);
    case 8: return assign_vector<std::uint64_t>(v, src, n);
    case 9: return assign_vector<std::int64_t>(v, src, n);
    case 10: return assign_vector<float>(v, src, n);
    case 11: return assign_vector<double>(v, src, n);
    default: return false;
  }
}

std::size_t renoir_cxx_string_size(const void * s)
{
  return static_cast<const std::string *>(s)->size();
}

const char * renoir_cxx_string_data(const void * s)
{
  return static_cast<const std::string *>(s)->data();
}

bool renoir_cxx_string_assign(void * s, const char * data, std::size_t n)
{
  try {
    static_cast<std::string *>(s)->assign(data, n);
    return true;
  } catch (...) {
    return false;
  }
}

std::size_t renoir_cxx_u16string_size(const void * s)
{
  return static_cast<const std::u16string *>(s)->size();
}

const std::uint16_t * renoir_cxx_u16string_data(const void * s)
{
  return reinterpret_cast<const std::uint16_t *>(static_cast<const std::u16string *>(s)->data());
}

bool renoir_cxx_u16string_assign(void * s, const std::uint16_t * data, std::size_t n)
{
  try {
    static_cast<std::u16string *>(s)->assign(reinterpret_cast<const char16_t *>(data), n);
    return true;
  } catch (...) {
    return false;
  }
}

std::size_t renoir_cxx_sizeof_string(void)
{
  return sizeof(std::string);
}

}  // extern "C"
