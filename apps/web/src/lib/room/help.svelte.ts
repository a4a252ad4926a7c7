/** The keyboard help overlay (? key, or the ? button in the transport). One per page. */
export const help = $state({ open: false });
