section .text
    global _start
_start:
    mov rax, undefined_symbol_here
    notaninstruction rax
