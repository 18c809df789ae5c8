section .bss
    buf resb 256

section .text
    global _start
_start:
    mov rax, 0          ; read
    mov rdi, 0          ; stdin
    mov rsi, buf
    mov rdx, 256
    syscall
    mov rdx, rax        ; bytes read
    mov rax, 1          ; write
    mov rdi, 1
    mov rsi, buf
    syscall
    mov rax, 60
    xor rdi, rdi
    syscall
