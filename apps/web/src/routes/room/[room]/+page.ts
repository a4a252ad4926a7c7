// The room lives entirely in the browser: socket, Yjs document, video and canvases.
export const ssr = false;
export const prerender = false;
