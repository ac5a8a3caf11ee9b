// Minimal C ABI over std::string / std::u16string for msg_support (the C++
// in-memory message representation). Compiled by build.rs with the system
// C++ compiler; exceptions never cross into Rust.
#include <cstddef>
#include <cstdint>
#include <string>

extern "C" {

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
