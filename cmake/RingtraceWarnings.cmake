# Warning flags for every target of the project (STYLE.md §14).
add_compile_options(
  -Wall -Wextra -Wshadow -Wformat=2 -Wpointer-arith -Wundef -Wvla -Wno-sign-compare
  $<$<COMPILE_LANGUAGE:C>:-Wstrict-prototypes>
  $<$<COMPILE_LANGUAGE:C>:-Wmissing-prototypes>
)
if(RTR_WERROR)
  add_compile_options(-Werror)
endif()
