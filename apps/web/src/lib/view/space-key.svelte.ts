/**
 * Space held down: a drag on the picture pans it (as in RV, Photoshop and Nuke), whatever the tool.
 * Space pressed and released without a drag still plays and pauses (on release).
 */
export const spaceKey = $state({ held: false, used: false });
