// ICU's common data, trimmed (scripts/trim-icu-data.py): defining icudt76_dat here keeps the
// linker from pulling the toolchain's 34 MB copy out of lib_FoundationICU.a into a static build.
// A toolchain with another ICU version names its symbol differently; this one is then unused and
// ICUDataTests fails, which is the cue to regenerate the file.
// SwiftPM does not see .incbin's input, so a new data file must come with a new digest here (a test
// checks it), which is what makes the build assemble this file again.
// data/icudt76l.dat sha256 bf0c4c95317aab1d02a9266b40d499ee0951d3ae95234a411b48cf4b5710549c
#if defined(__ELF__)
    .section .rodata.icudt76_dat, "a"
    .balign 16
    .globl icudt76_dat
    .type icudt76_dat, @object
icudt76_dat:
    .incbin "icudt76l.dat"
    .size icudt76_dat, . - icudt76_dat
    .section .note.GNU-stack, "", @progbits
#endif
