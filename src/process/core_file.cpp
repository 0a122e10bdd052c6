#include "objspy/process/core_file.hpp"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "objspy/core/load.hpp"
#include "objspy/elf/elf_file.hpp"
#include "objspy/elf/memory_elf.hpp"

namespace objspy {
namespace {

Error bad(const std::string& path, const std::string& what) {
  return make_error(Errc::bad_core, fmt::format("{} is not a usable core file: {}", path, what));
}

// pread all of `out` or fail.
bool read_at(int fd, std::uint64_t off, std::span<std::byte> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::string c_field(const std::byte* p, std::size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  if (auto z = s.find('\0'); z != std::string::npos) s.resize(z);
  return s;
}

// The layouts of the two notes read here (x86-64; <sys/procfs.h> has them as elf_prpsinfo and
// elf_prstatus): only the offsets of the fields objspy uses.
constexpr std::size_t kPrpsinfoSize = 136, kPrpsinfoPid = 24, kPrpsinfoFname = 40, kPrpsinfoArgs = 56;
constexpr std::size_t kPrstatusMin = 36, kPrstatusPid = 32;

// A stand-in inode for a file a core names: cores record no inodes, and a mapping counts as
// file-backed only with one (Mapping::file_backed).
std::uint64_t stand_in_inode(const std::string& path) { return (std::hash<std::string>{}(path) | 1); }

}  // namespace

CoreFile::~CoreFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status CoreFile::parse_notes(const std::byte* p, std::size_t n, std::uint32_t type, std::vector<std::pair<std::uint64_t, std::uint64_t>>& file_ranges,
                             std::vector<std::uint64_t>& file_offsets, std::vector<std::string>& names) {
  if (type == NT_PRPSINFO) {
    if (n < kPrpsinfoSize) return {};
    process_.pid = static_cast<pid_t>(load32(p + kPrpsinfoPid));
    process_.command = c_field(p + kPrpsinfoFname, 16);
    process_.arguments = c_field(p + kPrpsinfoArgs, 80);
  } else if (type == NT_PRSTATUS) {
    if (n < kPrstatusMin || process_.threads.size() >= kMaxSegments) return {};
    process_.threads.push_back(static_cast<pid_t>(load32(p + kPrstatusPid)));
  } else if (type == NT_FILE) {
    // count, page size, count x (start, end, offset in pages), then count NUL-terminated names.
    if (n < 16) return bad(path_, "an NT_FILE note shorter than its header");
    const std::uint64_t count = load64(p), page = load64(p + 8);
    if (count > kMaxFiles || count * 24 > n - 16) return bad(path_, fmt::format("an NT_FILE note claims {} files, more than it holds", count));
    if (page == 0 || page > (1u << 30) || (page & (page - 1))) return bad(path_, fmt::format("an NT_FILE note with a page size of {}", page));
    std::size_t at = 16 + count * 24;
    for (std::uint64_t k = 0; k < count; ++k) {
      const std::byte* e = p + 16 + k * 24;
      const std::uint64_t start = load64(e), end = load64(e + 8), pages = load64(e + 16);
      const auto* z = static_cast<const std::byte*>(std::memchr(p + at, 0, n - at));
      if (!z) return bad(path_, "an NT_FILE note whose names run past its end");
      names.emplace_back(reinterpret_cast<const char*>(p + at), static_cast<std::size_t>(z - (p + at)));
      at = static_cast<std::size_t>(z - p) + 1;
      if (end < start || pages > (~std::uint64_t{0}) / page) return bad(path_, fmt::format("an NT_FILE entry {:#x}-{:#x} that is not a range", start, end));
      file_ranges.emplace_back(start, end);
      file_offsets.push_back(pages * page);
    }
  }
  return {};
}

Result<std::unique_ptr<CoreFile>> CoreFile::open(const std::string& path) {
  if (elf_version(EV_CURRENT) == EV_NONE) return make_error(Errc::internal, "libelf initialisation failed");
  std::unique_ptr<CoreFile> c(new CoreFile());
  c->path_ = path;
  // O_NONBLOCK: a FIFO planted where a core was expected does not block the open.
  c->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (c->fd_ < 0) {
    const int e = errno;
    return make_error(e == EACCES || e == EPERM ? Errc::permission_denied : Errc::io, fmt::format("cannot open {}: {}", path, std::strerror(e)));
  }
  struct stat st {};
  if (::fstat(c->fd_, &st) != 0 || !S_ISREG(st.st_mode)) return bad(path, "not a regular file");
  c->size_ = static_cast<std::uint64_t>(st.st_size);
  c->written_at_ = static_cast<double>(st.st_mtim.tv_sec) + static_cast<double>(st.st_mtim.tv_nsec) / 1e9;

  // libelf reads the headers with pread (ELF_C_READ, not a mapping: a file cut short while
  // objspy reads it must give an error, not SIGBUS).
  Elf* elf = elf_begin(c->fd_, ELF_C_READ, nullptr);
  struct End {
    Elf* e;
    ~End() {
      if (e) elf_end(e);
    }
  } end{elf};
  GElf_Ehdr eh;
  if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh)) return bad(path, "no ELF header");
  if (eh.e_type != ET_CORE) return bad(path, "an ELF file, but not a core (e_type is not ET_CORE)");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != EM_X86_64) return bad(path, "not an x86-64 core (objspy reads 64-bit x86 targets)");
  std::size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) return bad(path, "its program headers cannot be read");
  if (phnum > kMaxSegments) return bad(path, fmt::format("{} program headers, more than objspy reads ({})", phnum, kMaxSegments));

  std::vector<std::pair<std::uint64_t, std::uint64_t>> file_ranges;
  std::vector<std::uint64_t> file_offsets;
  std::vector<std::string> names;
  std::size_t note_bytes = 0;
  for (std::size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf, static_cast<int>(i), &ph)) return bad(path, fmt::format("program header {} cannot be read", i));
    if (ph.p_type == PT_LOAD) {
      if (ph.p_memsz == 0) continue;
      if (ph.p_vaddr + ph.p_memsz < ph.p_vaddr || ph.p_filesz > ph.p_memsz)
        return bad(path, fmt::format("segment {} ({:#x}, {} bytes) is not a range", i, ph.p_vaddr, ph.p_memsz));
      CoreSegment s{ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz, ph.p_flags};
      // A core cut short (a full disk): what is missing reads as absent, not as zeros.
      if (s.filesz && (s.offset > c->size_ || s.filesz > c->size_ - s.offset)) {
        s.filesz = s.offset > c->size_ ? 0 : c->size_ - s.offset;
        ++c->truncated_;
      }
      c->segs_.push_back(s);
    } else if (ph.p_type == PT_NOTE) {
      if (ph.p_filesz == 0) continue;
      if (ph.p_offset > c->size_ || ph.p_filesz > c->size_ - ph.p_offset) return bad(path, "its notes run past the end of the file (cut short?)");
      note_bytes += ph.p_filesz;
      if (note_bytes > kMaxNoteBytes) return bad(path, fmt::format("more than {} MiB of notes", kMaxNoteBytes >> 20));
      Elf_Data* d = elf_getdata_rawchunk(elf, static_cast<off_t>(ph.p_offset), ph.p_filesz, ELF_T_NHDR);
      if (!d) return bad(path, "its notes cannot be read");
      std::size_t off = 0;
      GElf_Nhdr nh;
      std::size_t name_off = 0, desc_off = 0;
      while (off < d->d_size) {
        std::size_t next = gelf_getnote(d, off, &nh, &name_off, &desc_off);
        if (next == 0 || next <= off) break;  // malformed tail: the notes before it stand
        const auto* base = static_cast<const std::byte*>(d->d_buf);
        if (desc_off <= d->d_size && nh.n_descsz <= d->d_size - desc_off)
          OBJSPY_TRY(c->parse_notes(base + desc_off, nh.n_descsz, nh.n_type, file_ranges, file_offsets, names));
        off = next;
      }
    }
  }
  if (c->segs_.empty()) return bad(path, "no memory segments (PT_LOAD)");
  std::sort(c->segs_.begin(), c->segs_.end(), [](const CoreSegment& a, const CoreSegment& b) { return a.vaddr < b.vaddr; });
  for (std::size_t i = 1; i < c->segs_.size(); ++i)
    if (c->segs_[i].vaddr < c->segs_[i - 1].vaddr + c->segs_[i - 1].memsz)
      return bad(path, fmt::format("segments at {:#x} and {:#x} overlap", c->segs_[i - 1].vaddr, c->segs_[i].vaddr));

  // Files by name, each segment given the file NT_FILE maps at its start.
  std::vector<std::size_t> file_of(names.size());
  for (std::size_t k = 0; k < names.size(); ++k) {
    auto it = std::find_if(c->files_.begin(), c->files_.end(), [&](const CoreMappedFile& f) { return f.path == names[k]; });
    if (it == c->files_.end()) {
      c->files_.push_back({names[k]});
      it = c->files_.end() - 1;
    }
    file_of[k] = static_cast<std::size_t>(it - c->files_.begin());
  }
  std::vector<std::size_t> order(names.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return file_ranges[a].first < file_ranges[b].first; });
  // A mapped file a core leaves out altogether (gcore skips code and read-only data): a
  // segment with no bytes in the core, read from the file once verified.
  {
    std::vector<CoreSegment> extra;
    for (std::size_t k : order) {
      const auto [lo, hi] = file_ranges[k];
      if (hi == lo) continue;
      auto it = std::lower_bound(c->segs_.begin(), c->segs_.end(), lo, [](const CoreSegment& s, std::uint64_t a) { return s.vaddr + s.memsz <= a; });
      if (it != c->segs_.end() && it->vaddr < hi) continue;  // overlaps what the core has
      if (!extra.empty() && extra.back().vaddr + extra.back().memsz > lo) continue;
      extra.push_back({lo, hi - lo, 0, 0, PF_R, static_cast<int>(file_of[k]), file_offsets[k]});
    }
    if (c->segs_.size() + extra.size() > kMaxSegments) return bad(path, "more mappings than objspy reads");
    c->segs_.insert(c->segs_.end(), extra.begin(), extra.end());
    std::sort(c->segs_.begin(), c->segs_.end(), [](const CoreSegment& a, const CoreSegment& b) { return a.vaddr < b.vaddr; });
  }
  std::vector<Mapping> maps;
  maps.reserve(c->segs_.size());
  for (auto& s : c->segs_) {
    auto it = std::lower_bound(order.begin(), order.end(), s.vaddr, [&](std::size_t k, std::uint64_t a) { return file_ranges[k].first < a; });
    if (s.file >= 0) {
      // added above
    } else if (it != order.end() && file_ranges[*it].first == s.vaddr) {
      s.file = static_cast<int>(file_of[*it]);
      s.file_offset = file_offsets[*it];
    }
    Mapping m;
    m.start = s.vaddr;
    m.end = s.vaddr + s.memsz;
    m.readable = s.flags & PF_R;
    m.writable = s.flags & PF_W;
    m.executable = s.flags & PF_X;
    if (s.file >= 0) {
      m.path = c->files_[static_cast<std::size_t>(s.file)].path;
      m.offset = s.file_offset;
      m.inode = stand_in_inode(m.path);
    }
    maps.push_back(std::move(m));
  }
  c->map_ = MemoryMap(std::move(maps));
  if (c->process_.pid == 0 && !c->process_.threads.empty()) c->process_.pid = c->process_.threads.front();
  return c;
}

Status CoreFile::read_core(std::uint64_t addr, std::span<std::byte> out) const {
  std::size_t done = 0;
  while (done < out.size()) {
    const std::uint64_t a = addr + done;
    auto it = std::upper_bound(segs_.begin(), segs_.end(), a, [](std::uint64_t x, const CoreSegment& s) { return x < s.vaddr; });
    if (it == segs_.begin()) return make_error(Errc::bad_address, fmt::format("{:#x} is not in the core", a));
    const CoreSegment& s = *(it - 1);
    const std::uint64_t in = a - s.vaddr;
    if (in >= s.filesz) return make_error(Errc::bad_address, fmt::format("{:#x} is not in the core", a));
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size() - done, s.filesz - in));
    if (!read_at(fd_, s.offset + in, out.subspan(done, n))) return make_error(Errc::io, fmt::format("cannot read {} (cut short?)", path_));
    done += n;
  }
  return {};
}

namespace {

// The core's own bytes only: what the build id of a mapped file is checked against.
class CoreOnly final : public MemoryReader {
 public:
  explicit CoreOnly(const CoreFile& c) : c_(c) {}
  Status read(RemoteAddr addr, std::span<std::byte> out) override { return c_.read_core(addr.value(), out); }

 private:
  const CoreFile& c_;
};

std::string dir_of(const std::string& p) {
  auto s = p.rfind('/');
  return s == std::string::npos ? "." : (s == 0 ? "/" : p.substr(0, s));
}

std::string base_of(const std::string& p) {
  auto s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

}  // namespace

CoreReader::CoreReader(const CoreFile& core) : core_(core), files_(core.files().size()) {}

CoreReader::~CoreReader() {
  for (auto& f : files_)
    if (f.fd >= 0) ::close(f.fd);
}

std::vector<std::string> CoreReader::file_candidates(std::size_t file) const {
  const std::string& p = core_.files()[file].path;
  std::vector<std::string> out;
  if (!p.empty() && p[0] == '/') out.push_back(p);
  std::string beside = dir_of(core_.path()) + "/" + base_of(p);
  if (!base_of(p).empty() && beside != p) out.push_back(beside);
  return out;
}

std::string CoreReader::verified_file(std::size_t file) {
  if (file >= files_.size()) return {};
  file_fd(file);
  return files_[file].path;
}

int CoreReader::file_fd(std::size_t file) {
  Opened& o = files_[file];
  if (o.tried) return o.fd;
  o.tried = true;
  const std::string& name = core_.files()[file].path;
  // The build id the core holds for this file: in the first page of its mapping at offset 0,
  // which the kernel and gcore both keep.
  std::vector<std::byte> want;
  CoreOnly raw(core_);
  for (const auto& s : core_.segments()) {
    if (s.file != static_cast<int>(file) || s.file_offset != 0) continue;
    const Mapping* m = core_.map().find(RemoteAddr(s.vaddr));
    if (!m) continue;
    if (auto e = MemoryElf::open(raw, core_.map(), *m); e.ok()) want = e->build_id();
    break;
  }
  if (want.empty()) {
    problems_.push_back(fmt::format("{}: the core holds no build id for it, so no file can be checked to be the one mapped", name));
    return -1;
  }
  std::string why;
  for (const std::string& cand : file_candidates(file)) {
    // Opened once: the file checked is the file read (no swap between the check and the reads).
    const int fd = ::open(cand.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      if (why.empty()) why = fmt::format("{}: {}", cand, std::strerror(errno));
      continue;
    }
    auto elf = ElfFile::open(fmt::format("/proc/self/fd/{}", fd));
    if (!elf.ok() || elf->build_id() != want) {
      if (why.empty()) why = elf.ok() ? fmt::format("{} has another build id", cand) : fmt::format("{} is not an ELF file", cand);
      ::close(fd);
      continue;
    }
    o.fd = fd;
    o.path = cand;
    return fd;
  }
  problems_.push_back(fmt::format("{}: {}", name, why.empty() ? "not found" : why));
  return -1;
}

Status CoreReader::read(RemoteAddr addr, std::span<std::byte> out) {
  OBJSPY_ASSIGN(std::size_t n, read_some(addr, out));
  if (n < out.size()) return make_error(Errc::bad_address, fmt::format("{:#x} is not in the core's memory", addr.value() + n));
  return {};
}

Result<std::size_t> CoreReader::read_some(RemoteAddr addr, std::span<std::byte> out) {
  ++calls_;
  std::size_t done = 0;
  const auto& segs = core_.segments();
  while (done < out.size()) {
    const std::uint64_t a = addr.value() + done;
    auto it = std::upper_bound(segs.begin(), segs.end(), a, [](std::uint64_t x, const CoreSegment& s) { return x < s.vaddr; });
    if (it == segs.begin() || a - (it - 1)->vaddr >= (it - 1)->memsz) break;
    const CoreSegment& s = *(it - 1);
    const std::uint64_t in = a - s.vaddr;
    std::size_t n;
    if (in < s.filesz) {
      n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size() - done, s.filesz - in));
      OBJSPY_TRY(core_.read_core(a, out.subspan(done, n)));
    } else {
      // Left out of the core: the mapped file's bytes, if the file is the one mapped.
      n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size() - done, s.memsz - in));
      const int fd = s.file >= 0 ? file_fd(static_cast<std::size_t>(s.file)) : -1;
      if (fd < 0 || !read_at(fd, s.file_offset + in, out.subspan(done, n))) break;
    }
    done += n;
  }
  bytes_ += done;
  if (done == 0) return make_error(Errc::bad_address, fmt::format("{:#x} is not in the core's memory", addr.value()));
  return done;
}

}  // namespace objspy
