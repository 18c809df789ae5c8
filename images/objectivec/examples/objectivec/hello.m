#import <stdio.h>
#import <objc/Object.h>

int main(void) {
    printf("Hello, World!\n");
    return 0;
}
