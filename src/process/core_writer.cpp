#include "objspy/process/core_writer.hpp"

#include <elf.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/procfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace objspy {
namespace {

constexpr std::uint64_t kPage = 4096;

std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }

void put_note(std::vector<std::byte>& out, const char* name, std::uint32_t type, const void* desc, std::size_t size) {
  auto put32 = [&](std::uint32_t v) {
    const auto* b = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), b, b + 4);
  };
  const std::size_t namesz = std::strlen(name) + 1;
  put32(static_cast<std::uint32_t>(namesz));
  put32(static_cast<std::uint32_t>(size));
  put32(type);
  const auto* n = reinterpret_cast<const std::byte*>(name);
  out.insert(out.end(), n, n + namesz);
  out.resize(align_up(out.size(), 4));
  const auto* d = static_cast<const std::byte*>(desc);
  out.insert(out.end(), d, d + size);
  out.resize(align_up(out.size(), 4));
}

std::vector<std::byte> notes_of(const CoreImage& img) {
  std::vector<std::byte> out;
  // The kernel's order: the first thread's status, the process, then the other threads.
  auto status = [&](pid_t tid) {
    elf_prstatus st;
    std::memset(&st, 0, sizeof st);
    st.pr_pid = tid;
    st.pr_ppid = 0;
    put_note(out, "CORE", NT_PRSTATUS, &st, sizeof st);
  };
  if (!img.process.threads.empty()) status(img.process.threads.front());
  elf_prpsinfo ps;
  std::memset(&ps, 0, sizeof ps);
  ps.pr_pid = img.process.pid;
  ps.pr_state = 0;
  ps.pr_sname = 'R';
  std::strncpy(ps.pr_fname, img.process.command.c_str(), sizeof ps.pr_fname - 1);
  std::strncpy(ps.pr_psargs, img.process.arguments.c_str(), sizeof ps.pr_psargs - 1);
  put_note(out, "CORE", NT_PRPSINFO, &ps, sizeof ps);
  for (std::size_t i = 1; i < img.process.threads.size(); ++i) status(img.process.threads[i]);
  if (!img.auxv.empty()) put_note(out, "CORE", NT_AUXV, img.auxv.data(), img.auxv.size());
  // NT_FILE: count, page size, (start, end, offset in pages) each, then the names.
  std::vector<std::byte> f;
  auto put64 = [&](std::uint64_t v) {
    const auto* b = reinterpret_cast<const std::byte*>(&v);
    f.insert(f.end(), b, b + 8);
  };
  put64(img.files.size());
  put64(kPage);
  for (const auto& file : img.files) {
    put64(file.start);
    put64(file.end);
    put64(file.offset / kPage);
  }
  for (const auto& file : img.files) {
    const auto* b = reinterpret_cast<const std::byte*>(file.path.c_str());
    f.insert(f.end(), b, b + file.path.size() + 1);
  }
  put_note(out, "CORE", NT_FILE, f.data(), f.size());
  return out;
}

bool write_all(int fd, std::uint64_t off, std::span<const std::byte> data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

Status write_core(int fd, const CoreImage& img) {
  if (elf_version(EV_CURRENT) == EV_NONE) return make_error(Errc::internal, "libelf initialisation failed");
  const std::vector<std::byte> notes = notes_of(img);
  const std::size_t phnum = img.segments.size() + 1;
  // Layout: ELF header, program headers, notes, then each segment's bytes page-aligned.
  const std::uint64_t notes_at = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
  std::uint64_t at = align_up(notes_at + notes.size(), kPage);
  std::vector<std::uint64_t> offsets;
  for (const auto& s : img.segments) {
    offsets.push_back(at);
    at = align_up(at + s.filesz, kPage);
  }
  const std::uint64_t total = at;

  Elf* elf = elf_begin(fd, ELF_C_WRITE, nullptr);
  if (!elf) return make_error(Errc::io, fmt::format("cannot write the core: {}", elf_errmsg(-1)));
  struct End {
    Elf* e;
    ~End() { elf_end(e); }
  } end{elf};
  elf_flagelf(elf, ELF_C_SET, ELF_F_LAYOUT);  // objspy places every byte; libelf writes the headers
  if (!gelf_newehdr(elf, ELFCLASS64)) return make_error(Errc::io, fmt::format("cannot write the core: {}", elf_errmsg(-1)));
  GElf_Ehdr eh;
  gelf_getehdr(elf, &eh);
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
  eh.e_type = ET_CORE;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_shoff = 0;
  gelf_update_ehdr(elf, &eh);
  if (!gelf_newphdr(elf, phnum)) return make_error(Errc::io, fmt::format("cannot write the core: {}", elf_errmsg(-1)));
  GElf_Phdr ph{};
  ph.p_type = PT_NOTE;
  ph.p_offset = notes_at;
  ph.p_filesz = notes.size();
  ph.p_align = 4;
  gelf_update_phdr(elf, 0, &ph);
  for (std::size_t i = 0; i < img.segments.size(); ++i) {
    const auto& s = img.segments[i];
    GElf_Phdr p{};
    p.p_type = PT_LOAD;
    p.p_offset = offsets[i];
    p.p_vaddr = s.vaddr;
    p.p_filesz = s.filesz;
    p.p_memsz = s.memsz;
    p.p_flags = s.flags;
    p.p_align = kPage;
    gelf_update_phdr(elf, static_cast<int>(i + 1), &p);
  }
  if (elf_update(elf, ELF_C_WRITE) < 0) return make_error(Errc::io, fmt::format("cannot write the core: {}", elf_errmsg(-1)));
  if (!write_all(fd, notes_at, notes)) return make_error(Errc::io, fmt::format("cannot write the core: {}", std::strerror(errno)));
  for (std::size_t i = 0; i < img.segments.size(); ++i)
    for (const auto& piece : img.segments[i].pieces)
      if (!write_all(fd, offsets[i] + (piece.start - img.segments[i].vaddr), piece.data))
        return make_error(Errc::io, fmt::format("cannot write the core: {}", std::strerror(errno)));
  // Pages never written are holes: the file is as long as its layout says, sparse.
  if (::ftruncate(fd, static_cast<off_t>(total)) != 0) return make_error(Errc::io, fmt::format("cannot write the core: {}", std::strerror(errno)));
  return {};
}

}  // namespace objspy
