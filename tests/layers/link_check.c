/* An empty program. Each layer's link check links the whole of that layer's
 * library into it with only the layers below, so a call into a higher layer
 * is an undefined symbol and the build fails (tests/layers/meson.build). */
int main(void) { return 0; }
