# Build step (cmake -P): the man pages and completions from the objspy just built
# (`objspy _docs`), and the compressed files Debian wants under /usr/share/doc/objspy.
#   -DOBJSPY=path/to/objspy -DOUT=dir -DREADME=README.md -DCHANGELOG=packaging/debian/changelog
# gzip -9n: maximum compression (lintian), no name or time stamp in the header (reproducible).
file(REMOVE_RECURSE "${OUT}")
execute_process(COMMAND "${OBJSPY}" _docs "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "objspy _docs ${OUT} failed (${rc})")
endif()

function(gzip_to src dst)
  execute_process(COMMAND gzip -9n -c "${src}" OUTPUT_FILE "${dst}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gzip ${src} failed (${rc})")
  endif()
endfunction()

file(GLOB pages "${OUT}/man/*.1")
foreach(page IN LISTS pages)
  gzip_to("${page}" "${page}.gz")
endforeach()
file(MAKE_DIRECTORY "${OUT}/doc")
gzip_to("${README}" "${OUT}/doc/README.md.gz")
gzip_to("${CHANGELOG}" "${OUT}/doc/changelog.Debian.gz")
file(TOUCH "${OUT}/stamp")
