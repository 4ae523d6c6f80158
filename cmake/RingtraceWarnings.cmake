# Warning flags for every target of the project (STYLE.md §14).
add_compile_options(
  -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
  -Wpointer-arith -Wundef -Wvla -Wno-sign-compare
)
if(RTR_WERROR)
  add_compile_options(-Werror)
endif()
