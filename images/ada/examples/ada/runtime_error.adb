with Ada.Text_IO;

procedure Main is
   A : array (1 .. 3) of Integer := (1, 2, 3);
   I : Integer := A'Last;
begin
   I := I + 1;
   Ada.Text_IO.Put_Line (Integer'Image (A (I)));
end Main;
