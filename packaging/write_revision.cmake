# Writes ${OUTPUT}: a header naming the git revision the build is made
# from. In a tree made by `git archive` (scripts/build-deb), `git archive`
# has already written it into packaging/git-revision (export-subst, see
# .gitattributes); in a checkout it is asked of git, with "+" when the tree
# has changes; elsewhere it is "unknown". Run at every build; the file is
# rewritten only when the revision changes, so nothing is recompiled
# without need.
file(STRINGS "${SOURCE}/packaging/git-revision" exported LIMIT_COUNT 1)
if(exported MATCHES "^([0-9a-f]+)([+]?)$")
  set(changed "${CMAKE_MATCH_2}")
  string(SUBSTRING "${CMAKE_MATCH_1}" 0 12 revision)
  string(APPEND revision "${changed}")
else()
  execute_process(COMMAND git -C "${SOURCE}" rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE revision OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE status)
  if(NOT status EQUAL 0 OR revision STREQUAL "")
    set(revision "unknown")
  else()
    execute_process(COMMAND git -C "${SOURCE}" status --porcelain --untracked-files=no
                    OUTPUT_VARIABLE changes OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(NOT changes STREQUAL "")
      string(APPEND revision "+")
    endif()
  endif()
endif()
set(text "// Written by packaging/write_revision.cmake at build time.\n#pragma once\n#define CUSTOS_GIT_REVISION \"${revision}\"\n")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUTPUT}" "${text}")
endif()
